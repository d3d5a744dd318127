-- POST /open311/v2/requests.json: a graffiti report at a random point in the city.
local n = 0
request = function()
  n = n + 1
  local lat = Y0 + math.random() * (Y1 - Y0)
  local long = X0 + math.random() * (X1 - X0)
  local body = string.format(
    "api_key=%s&service_code=graffiti&lat=%.6f&long=%.6f&description=Tag+on+the+wall+%d",
    KEYS[math.random(#KEYS)], lat, long, n)
  return wrk.format("POST", "/open311/v2/requests.json",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
