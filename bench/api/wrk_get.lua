-- GET /open311/v2/requests.json with a bbox and a 7-day window, as a random client.
request = function()
  local key = KEYS[math.random(#KEYS)]
  return wrk.format("GET", paths[math.random(#paths)] .. "&api_key=" .. key)
end
