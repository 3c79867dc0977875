#include "admin/status_page.hpp"

namespace orp::admin {

std::string_view status_page() {
  static constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>openrouter-proxy</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .2em} .sub{color:#666;margin-bottom:1em}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 3px #0002}
th,td{padding:.35em .8em;border-bottom:1px solid #eee;text-align:left} th{background:#f0f0f0}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.active{color:#1a7f37}.cooling{color:#9a6700}.disabled_invalid,.disabled_no_credit{color:#cf222e}
.cards{display:flex;gap:1em;margin-bottom:1em}.card{background:#fff;padding:.6em 1em;box-shadow:0 1px 3px #0002}
.card b{display:block;font-size:1.4em}
.warn{color:#cf222e}
</style></head><body>
<h1>openrouter-proxy</h1><div class="sub" id="updated">loading…</div>
<div class="sub warn" id="file-error" hidden></div>
<div class="cards">
<div class="card"><b id="rate">–</b>requests/s</div>
<div class="card"><b id="total">–</b>requests</div>
<div class="card"><b id="conns">–</b>client connections</div>
<div class="card"><b id="usable">–</b>usable keys</div>
</div>
<table><thead><tr><th>key</th><th>state</th><th>reason</th><th>cooling</th>
<th>requests</th><th>ok</th><th>client errors</th><th>failed</th><th>cancelled</th><th>in flight</th><th>credit</th>
</tr></thead><tbody id="keys"></tbody></table>
<script>
const token = (location.hash.match(/token=([^&]+)/) || [])[1];
const opts = token ? {headers: {Authorization: 'Bearer ' + decodeURIComponent(token)}} : {};
let last = null;
function cell(text, cls) { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; return td; }
async function refresh() {
  try {
    const [k, s] = await Promise.all([fetch('/keys', opts).then(r => r.json()), fetch('/stats', opts).then(r => r.json())]);
    const body = document.getElementById('keys'); body.replaceChildren();
    let usable = 0;
    for (const key of k.keys) {
      if (key.state === 'active') usable++;
      const tr = document.createElement('tr');
      tr.append(cell(key.label), cell(key.state.replaceAll('_', ' '), key.state), cell(key.reason || ''),
        cell(key.cooling_left_s == null ? '' : key.cooling_left_s.toFixed(0) + ' s', 'n'),
        cell(key.requests, 'n'), cell(key.successes, 'n'), cell(key.client_errors, 'n'), cell(key.failures, 'n'),
        cell(key.cancelled, 'n'), cell(key.in_flight, 'n'),
        cell(key.credit_left == null ? '' : key.credit_left.toFixed(2), 'n'));
      body.append(tr);
    }
    const now = performance.now();
    if (last) document.getElementById('rate').textContent = ((s.requests_total - last.total) / ((now - last.t) / 1000)).toFixed(1);
    last = {t: now, total: s.requests_total};
    document.getElementById('total').textContent = s.requests_total;
    document.getElementById('conns').textContent = s.open_connections ?? '–';
    document.getElementById('usable').textContent = usable + ' / ' + k.keys.length;
    const refused = document.getElementById('file-error');
    refused.hidden = !k.keys_file_error;
    refused.textContent = k.keys_file_error ? 'keys file refused, the table is the pool loaded before it: ' + k.keys_file_error : '';
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) { document.getElementById('updated').textContent = 'cannot reach the admin endpoint: ' + e; }
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
)html";
  return kPage;
}

}  // namespace orp::admin
