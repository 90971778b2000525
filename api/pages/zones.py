"""``/ui/zones``: pick a camera, see its live snapshot, draw and edit zones, save with PUT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.auth import Principal
from api.pages.common import layout

_BODY = """
<div class="card"><h2>区域编辑 Zone editor</h2>
<label for="camera">摄像头 Camera</label><select id="camera"></select>
<span id="source" class="muted"></span>
<p class="muted">坐标为画面归一化坐标 (0..1)。多边形：逐点单击，点“完成”闭合；线：单击两个端点，
再单击线的“内侧”。选中区域后可拖动顶点。
Coordinates are normalized to the frame (0..1). Polygon: click each point, then Finish. Line:
click both ends, then click on its inward side. Drag the vertices of the selected zone.</p>
<div id="tools">
<label for="zname">名称 Name</label><input id="zname" maxlength="63" placeholder="lane" size="14">
<button id="newpoly">新多边形 New polygon</button>
<button id="newline">新线 New line</button>
<button id="finish" disabled>完成 Finish</button>
<button id="cancel" disabled>取消 Cancel</button>
<button id="flip" disabled>翻转内侧 Flip inward</button>
<button id="delete" disabled>删除 Delete</button>
<button id="save" class="primary">保存 Save</button>
</div>
<p id="msg"></p></div>
<div class="card" style="display:flex;gap:1rem;flex-wrap:wrap">
<div style="position:relative;line-height:0">
<img id="snap" alt="" style="max-width:960px;width:960px;display:block;background:#555">
<canvas id="canvas" style="position:absolute;left:0;top:0;cursor:crosshair"></canvas></div>
<div><h3>区域 Zones</h3><ul id="zlist"></ul></div></div>
"""

_SCRIPT = """
const camSel = document.getElementById('camera');
const snap = document.getElementById('snap');
const canvas = document.getElementById('canvas');
const ctx = canvas.getContext('2d');
const msg = document.getElementById('msg');
const zlist = document.getElementById('zlist');
const btn = id => document.getElementById(id);
let zones = {}, selected = null, draft = null, drag = null;
const UNSAVED = '未保存 Not saved yet';

for (const c of PAGE.cameras) {
  camSel.append(HW.el('option', {value: c.id}, c.name ? c.id + ' — ' + c.name : c.id));
}
if (PAGE.cameras.length) camSel.value = PAGE.cameras[0].id;
if (!PAGE.can_edit) {
  for (const id of ['newpoly', 'newline', 'save', 'zname']) btn(id).disabled = true;
  btn('save').title = '只有管理员可以保存 Only admins can save';
}

function say(text, ok) { msg.className = ok ? 'ok' : 'err'; msg.textContent = text; }
function r4(v) { return Math.round(v * 10000) / 10000; }
function round(v) { return r4(Math.min(1, Math.max(0, v))); }
function toPx(p) { return [p[0] * canvas.width, p[1] * canvas.height]; }
function fromEvent(e) {
  const r = canvas.getBoundingClientRect();
  return [round((e.clientX - r.left) / r.width), round((e.clientY - r.top) / r.height)];
}
function points(z) { return z.polygon || z.line || []; }

function sizeCanvas() {
  const w = snap.clientWidth || 960;
  const h = snap.naturalWidth ? Math.round(w * snap.naturalHeight / snap.naturalWidth)
                              : Math.round(w * 9 / 16);
  snap.style.height = h + 'px';
  canvas.width = w; canvas.height = h;
  canvas.style.width = w + 'px'; canvas.style.height = h + 'px';
  draw();
}

function drawZone(id, z, active) {
  const pts = points(z).map(toPx);
  if (!pts.length) return;
  ctx.lineWidth = active ? 3 : 2;
  ctx.strokeStyle = active ? '#ffd60a' : (z.line ? '#ff5d8f' : '#4cc9f0');
  ctx.fillStyle = active ? 'rgba(255,214,10,.18)' : 'rgba(76,201,240,.15)';
  ctx.beginPath(); ctx.moveTo(...pts[0]);
  for (const p of pts.slice(1)) ctx.lineTo(...p);
  if (z.polygon) { ctx.closePath(); ctx.fill(); }
  ctx.stroke();
  if (z.line && z.inward && pts.length === 2) {
    const mx = (pts[0][0] + pts[1][0]) / 2, my = (pts[0][1] + pts[1][1]) / 2;
    const n = Math.hypot(z.inward[0], z.inward[1]) || 1;
    const ex = mx + 40 * z.inward[0] / n, ey = my + 40 * z.inward[1] / n;
    ctx.beginPath(); ctx.moveTo(mx, my); ctx.lineTo(ex, ey); ctx.stroke();
    ctx.beginPath(); ctx.arc(ex, ey, 4, 0, 2 * Math.PI); ctx.fill();
  }
  if (active) {
    ctx.fillStyle = '#ffd60a';
    for (const p of pts) ctx.fillRect(p[0] - 4, p[1] - 4, 8, 8);
  }
  ctx.fillStyle = '#fff'; ctx.font = '14px sans-serif';
  ctx.fillText(id, pts[0][0] + 6, pts[0][1] - 6);
}

function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (const [id, z] of Object.entries(zones)) drawZone(id, z, id === selected);
  if (draft) {
    const z = draft.kind === 'polygon' ? {polygon: draft.points}
                                       : {line: draft.points, inward: null};
    ctx.setLineDash([6, 4]); drawZone(draft.name, z, true); ctx.setLineDash([]);
  }
}

function listZones() {
  HW.clear(zlist);
  for (const [id, z] of Object.entries(zones)) {
    const kind = z.polygon ? '多边形 polygon (' + z.polygon.length + ')' : '线 line';
    const pick = e => { e.preventDefault(); select(id); };
    zlist.append(HW.el('li', {}, HW.el('a', {href: '#', onclick: pick}, id), ' · ' + kind));
  }
}

function select(id) {
  selected = id;
  const z = zones[id];
  btn('delete').disabled = !PAGE.can_edit || !z;
  btn('flip').disabled = !PAGE.can_edit || !z || !z.line;
  draw();
}

function startDraft(kind) {
  const name = btn('zname').value.trim();
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) {
    say('名称须为小写字母、数字、_ 或 - Name must be a slug: lowercase letters, digits, _ or -');
    return;
  }
  if (zones[name]) { say('区域已存在 A zone named ' + name + ' exists'); return; }
  draft = {kind, name, points: [], inward: null};
  btn('finish').disabled = kind !== 'polygon'; btn('cancel').disabled = false;
  say(kind === 'polygon' ? '单击添加顶点 Click to add points'
                          : '单击两个端点 Click both ends', true);
}

function finishDraft() {
  if (!draft) return;
  if (draft.kind === 'polygon') {
    if (draft.points.length < 3) {
      say('多边形至少三个点 A polygon needs at least 3 points');
      return;
    }
    zones[draft.name] = {polygon: draft.points};
  } else {
    zones[draft.name] = {line: draft.points, inward: draft.inward};
  }
  const name = draft.name; draft = null;
  btn('finish').disabled = true; btn('cancel').disabled = true;
  listZones(); select(name); say(UNSAVED, true);
}

canvas.addEventListener('mousedown', e => {
  const p = fromEvent(e);
  if (draft) {
    if (draft.kind === 'polygon') draft.points.push(p);
    else if (draft.points.length < 2) {
      draft.points.push(p);
      if (draft.points.length === 2) say('单击线的内侧 Click on the inward side', true);
    } else {
      const a = draft.points[0], b = draft.points[1];
      draft.inward = [r4(p[0] - (a[0] + b[0]) / 2), r4(p[1] - (a[1] + b[1]) / 2)];
      finishDraft(); return;
    }
    draw(); return;
  }
  if (!PAGE.can_edit || !selected) return;
  const pts = points(zones[selected]);
  const [x, y] = [e.offsetX, e.offsetY];
  const near = q => {
    const [px, py] = toPx(q);
    return Math.abs(px - x) < 8 && Math.abs(py - y) < 8;
  };
  const i = pts.findIndex(near);
  if (i >= 0) drag = {index: i};
});
canvas.addEventListener('mousemove', e => {
  if (!drag || !selected) return;
  points(zones[selected])[drag.index] = fromEvent(e);
  draw();
});
window.addEventListener('mouseup', () => { if (drag) say(UNSAVED, true); drag = null; });

btn('newpoly').addEventListener('click', () => startDraft('polygon'));
btn('newline').addEventListener('click', () => startDraft('line'));
btn('finish').addEventListener('click', finishDraft);
btn('cancel').addEventListener('click', () => { draft = null; btn('finish').disabled = true;
  btn('cancel').disabled = true; draw(); say(''); });
btn('delete').addEventListener('click', () => {
  if (!selected) return;
  delete zones[selected]; selected = null;
  listZones(); draw(); say(UNSAVED, true);
});
btn('flip').addEventListener('click', () => {
  const z = zones[selected];
  if (z && z.inward) { z.inward = [-z.inward[0], -z.inward[1]]; draw(); say(UNSAVED, true); }
});
btn('save').addEventListener('click', async () => {
  const cam = camSel.value;
  try {
    const saved = await HW.api('/cameras/' + encodeURIComponent(cam) + '/zones', {
      method: 'PUT', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({zones})});
    zones = saved.zones; listZones(); draw();
    say('已保存 Saved (' + saved.updated_at + ')', true);
  } catch (err) {
    const lines = ((err.body && err.body.errors) || []).map(x => x.loc + ': ' + x.msg);
    say(lines.length ? lines.join('\\n') : err.message);
  }
});

async function loadCamera() {
  const cam = camSel.value;
  if (!cam) { say('没有可见的摄像头 No camera visible to this token'); return; }
  selected = null; draft = null;
  try {
    const data = await HW.api('/cameras/' + encodeURIComponent(cam) + '/zones');
    zones = data.zones;
    document.getElementById('source').textContent = data.source === 'override'
      ? '已编辑 edited by ' + data.by + ' · ' + HW.when(data.updated_at)
      : '来自配置 from the config file';
    listZones(); say('');
  } catch (err) { zones = {}; listZones(); say(err.message); }
  snap.src = '/cameras/' + encodeURIComponent(cam) + '/snapshot.jpg?t=' + Date.now();
}
snap.addEventListener('load', sizeCanvas);
snap.addEventListener('error', () => { snap.removeAttribute('src'); sizeCanvas();
  say('暂无实时画面 No live snapshot yet: zones are drawn on a blank frame', true); });
window.addEventListener('resize', sizeCanvas);
camSel.addEventListener('change', loadCamera);
sizeCanvas();
loadCamera();
"""


def render_zones(principal: Principal, cameras: Sequence[dict[str, Any]], nonce: str) -> str:
    """The zone editor for ``cameras`` (the ones ``principal`` may see); saving needs admin."""
    data = {"cameras": list(cameras), "can_edit": principal.is_admin}
    return layout(
        title="区域 Zones",
        active="zones",
        principal=principal,
        body=_BODY,
        script=_SCRIPT,
        nonce=nonce,
        page_data=data,
    )
