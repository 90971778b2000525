"""``/ui/dashboard``: counts by status, kind, level; overdue; rates; camera health; heat table."""

from __future__ import annotations

from api.auth import Principal
from api.pages.common import layout

_BODY = """
<p id="msg" class="err"></p>
<div class="grid">
<div class="card"><h3>状态 By status</h3><table id="by_status"></table></div>
<div class="card"><h3>类型 By kind</h3><table id="by_kind"></table></div>
<div class="card"><h3>等级 By level</h3><table id="by_level"></table></div>
<div class="card"><h3>指标 Rates</h3><table id="rates"></table>
<p class="muted">目标 Targets: 整改率 rectification ≥ 95 %, 重复率 repeat ≤ 5 %.</p></div>
</div>
<div class="card"><h3>热力表 Heat table: 摄像头 camera × 类型 kind</h3>
<table id="heat"></table></div>
<div class="card" id="health_card"><h3>摄像头状态 Camera health</h3>
<p id="overall"></p><table id="health"></table></div>
<p class="muted">每 10 秒刷新 Refreshes every 10 s.</p>
"""

_SCRIPT = """
const msg = document.getElementById('msg');
function fill(id, head, rows) {
  const t = HW.clear(document.getElementById(id));
  t.append(HW.el('tr', {}, head.map(h => HW.el('th', {}, h))));
  for (const r of rows) t.append(HW.el('tr', {}, r.map(c => HW.el('td', {}, c))));
}
function pct(v) { return v === null || v === undefined ? '—' : (100 * v).toFixed(1) + ' %'; }
function heatColor(n, max) {
  if (!n) return '#ffffff';
  const a = 0.15 + 0.85 * n / max;
  return 'rgba(198,40,40,' + a.toFixed(2) + ')';
}
function renderHeat(stats) {
  const t = HW.clear(document.getElementById('heat'));
  const kinds = Object.keys(HW.labels.kind);
  const cells = stats.by_camera_kind || {};
  const cams = Object.keys(cells).sort();
  let max = 1;
  for (const c of cams) for (const k of kinds) max = Math.max(max, cells[c][k] || 0);
  const head = kinds.map(k => HW.el('th', {}, HW.label('kind', k)));
  t.append(HW.el('tr', {}, HW.el('th', {}, ''), head));
  for (const c of cams) {
    t.append(HW.el('tr', {}, HW.el('th', {}, c), kinds.map(k => {
      const n = cells[c][k] || 0;
      return HW.el('td', {style: 'text-align:right;background:' + heatColor(n, max) +
                              (n / max > 0.6 ? ';color:#fff' : '')}, n);
    })));
  }
  if (!cams.length) t.append(HW.el('tr', {}, HW.el('td', {}, '没有数据 No data')));
}
async function refresh() {
  msg.textContent = '';
  try {
    const s = await HW.api('/stats');
    fill('by_status', ['状态 Status', '数量 Count'],
         Object.keys(HW.labels.status).map(
           k => [HW.label('status', k), (s.by_status || {})[k] || 0]));
    fill('by_kind', ['类型 Kind', '数量 Count'],
         Object.keys(HW.labels.kind).map(k => [HW.label('kind', k), (s.by_kind || {})[k] || 0]));
    fill('by_level', ['等级 Level', '数量 Count'],
         Object.keys(HW.labels.level).map(k => [HW.level(k), (s.by_level || {})[k] || 0]));
    fill('rates', ['指标 Measure', '值 Value'], [
      ['总数 Total', s.total || 0], ['超期 Overdue', s.overdue || 0],
      ['整改率 Rectification rate', pct(s.rectification_rate)],
      ['重复率 Repeat rate', pct(s.repeat_rate)]]);
    renderHeat(s);
  } catch (err) { msg.textContent = err.message; }
  if (PAGE.public) { document.getElementById('health_card').hidden = true; return; }
  try {
    const r = await fetch('/health', {credentials: 'same-origin'});
    const h = await r.json();
    document.getElementById('overall').textContent =
      (h.status === 'ok' ? '正常 OK' : '降级 Degraded: ' + (h.reasons || []).join('; ')) +
      ' · Redis ' + ((h.redis || {}).state || '?');
    fill('health', ['摄像头 Camera', '状态 State', '输入 fps in', '输出 fps out', '丢帧 Dropped',
                    '重连 Reconnects', '推理 ms', '事件 Events'],
      Object.entries(h.cameras || {})
        .filter(([id]) => PAGE.cameras === null || PAGE.cameras.includes(id))
        .map(([id, c]) => [id, c.state, c.fps_in ?? '—', c.fps_out ?? '—', c.dropped ?? '—',
                           c.reconnects ?? '—', c.inference_ms_avg ?? '—', c.events ?? '—']));
  } catch (err) { msg.textContent = err.message; }
}
refresh();
setInterval(refresh, 10000);
"""


def render_dashboard(principal: Principal, nonce: str) -> str:
    """The dashboard; the public see closed-ticket statistics only and no camera health."""
    cameras = None if principal.cameras is None else sorted(principal.cameras)
    return layout(
        title="看板 Dashboard",
        active="dashboard",
        principal=principal,
        body=_BODY,
        script=_SCRIPT,
        nonce=nonce,
        page_data={"public": principal.is_public, "cameras": cameras},
    )
