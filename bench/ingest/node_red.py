"""Baseline (b): Node-RED 4.1.8, MQTT-in -> function node batching -> multi-row INSERT via `pg`.

The flow is what a city would build in Node-RED's editor: an `mqtt in` node on `city/#` (QoS 1,
parsed JSON) wired to one function node that looks each reading's datastream up in a map loaded
at start, buffers rows and flushes them as one multi-row `INSERT ... ON CONFLICT DO NOTHING`
every 1,000 rows or 20 ms (the same cut as our bridge's default wait), over a `pg.Pool` of 4
connections. `pg` reaches the function node through `functionGlobalContext` in settings.js, so
nothing is installed at run time. Files are generated under the bench stack folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent / "node_red"
RED_JS = HERE / "node_modules" / "node-red" / "red.js"
PG_MODULE = HERE / "node_modules" / "pg"
FLUSH_ROWS = 1000
FLUSH_MS = 20
POOL_SIZE = 4

INITIALIZE = """
const pg = global.get('pg');
const pool = new pg.Pool({connectionString: %(db)s, max: %(pool)d});
const res = await pool.query(
  'SELECT d.id, t.code, p.code AS metric FROM datastream d JOIN thing t ON t.id = d.thing_id ' +
  'JOIN observed_property p ON p.id = d.observed_property_id');
const ids = new Map();
for (const r of res.rows) ids.set(r.code + ':' + r.metric, r.id);
const st = {pool: pool, ids: ids, rows: [], errors: 0};
st.flush = async function () {
  if (st.rows.length === 0) return;
  const rows = st.rows;
  st.rows = [];
  const params = [];
  const values = [];
  for (let i = 0; i < rows.length; i++) {
    values.push('($' + (3 * i + 1) + ', to_timestamp($' + (3 * i + 2) + '), $' + (3 * i + 3) + ')');
    params.push(rows[i][0], rows[i][1], rows[i][2]);
  }
  try {
    await pool.query('INSERT INTO observation (datastream_id, phenomenon_time, result) VALUES ' +
                     values.join(',') + ' ON CONFLICT DO NOTHING', params);
  } catch (e) {
    st.errors++;
    node.error(e.message);
  }
};
st.timer = setInterval(function () { st.flush(); }, %(ms)d);
context.set('state', st);
node.log('bench-ready ' + ids.size + ' datastreams');
"""

FUNC = """
const st = context.get('state');
if (!st) return null;
const code = msg.topic.substring(msg.topic.lastIndexOf('/') + 1);
const p = msg.payload;
if (typeof p !== 'object' || p === null) return null;
const ts = p.ts;
for (const k in p) {
  if (k === 'ts') continue;
  const id = st.ids.get(code + ':' + k);
  if (id !== undefined) st.rows.push([id, ts, p[k]]);
}
if (st.rows.length >= %(rows)d) st.flush();
return null;
"""

FINALIZE = """
const st = context.get('state');
// Node-RED runs this body synchronously: chain the promises instead of awaiting them.
if (st) { clearInterval(st.timer); return st.flush().then(function () { return st.pool.end(); }); }
"""


def ensure_installed(*, log: Path) -> None:
    """`npm ci` into bench/ingest/node_red/node_modules (gitignored) if it is not there yet."""
    if RED_JS.is_file() and PG_MODULE.is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found: Node.js 20 is needed for the Node-RED baseline")
    with log.open("ab") as out:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, stdout=out, stderr=out, check=True
        )


def write_user_dir(*, user_dir: Path, port: int, database_url: str, mqtt_port: int) -> None:
    """Write settings.js and flows.json for a headless Node-RED on 127.0.0.1:port."""
    user_dir.mkdir(parents=True, exist_ok=True)
    settings = f"""module.exports = {{
  uiHost: "127.0.0.1",
  uiPort: {port},
  flowFile: "flows.json",
  credentialSecret: false,
  functionExternalModules: false,
  functionGlobalContext: {{ pg: require({json.dumps(str(PG_MODULE))}) }},
  logging: {{ console: {{ level: "info", metrics: false, audit: false }} }},
  editorTheme: {{ tours: false, projects: {{ enabled: false }} }},
  telemetry: {{ enabled: false }}
}};
"""
    (user_dir / "settings.js").write_text(settings)
    init = INITIALIZE % {"db": json.dumps(database_url), "pool": POOL_SIZE, "ms": FLUSH_MS}
    flows = [
        {"id": "benchtab", "type": "tab", "label": "bench ingest"},
        {
            "id": "benchbroker",
            "type": "mqtt-broker",
            "name": "bench",
            "broker": "127.0.0.1",
            "port": str(mqtt_port),
            "clientid": "bench-node-red",
            "autoConnect": True,
            "usetls": False,
            "protocolVersion": "4",
            "keepalive": "60",
            "cleansession": True,
            "birthTopic": "",
            "closeTopic": "",
            "willTopic": "",
        },
        {
            "id": "benchin",
            "type": "mqtt in",
            "z": "benchtab",
            "name": "city readings",
            "topic": "city/#",
            "qos": "1",
            "datatype": "json",
            "broker": "benchbroker",
            "nl": False,
            "rap": True,
            "rh": 0,
            "inputs": 0,
            "x": 150,
            "y": 100,
            "wires": [["benchfn"]],
        },
        {
            "id": "benchfn",
            "type": "function",
            "z": "benchtab",
            "name": "batch INSERT",
            "func": FUNC % {"rows": FLUSH_ROWS},
            "outputs": 0,
            "timeout": 0,
            "noerr": 0,
            "initialize": init,
            "finalize": FINALIZE,
            "libs": [],
            "x": 400,
            "y": 100,
            "wires": [],
        },
    ]
    (user_dir / "flows.json").write_text(json.dumps(flows, indent=1))


def command(*, user_dir: Path) -> list[str]:
    """The command line that runs Node-RED headless on the generated user folder."""
    node = shutil.which("node") or "node"
    return [node, str(RED_JS), "--userDir", str(user_dir), "--settings",
            str(user_dir / "settings.js")]  # fmt: skip
