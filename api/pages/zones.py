"""``/ui/zones``: the zone editor over the camera's live picture.

What it shows: the live snapshot the pipeline writes every few seconds (fetched again only when
``/cameras/{id}/live`` says there is a newer one, always ``no-store``; when the camera is down,
the last good picture stays with a message saying since when); the zones (polygons, lines with
their inward arrow), the facade's floor lines with the floor numbers between them, and what the
pipeline detects now (boxes, motion blobs) from its status record. What it edits: polygons and
lines (draw, drag vertices, flip a line's inward side, delete), floor lines (dragged up and down,
kept in order), each hazard's parameters (fields and bounds taken from the config schema, so the
form offers what ``check-config`` accepts). Saving sends all of it in one ``PUT``, which the API
validates like ``check-config`` and the running pipeline reloads.

The canvas is drawn in the picture's displayed size, so the page fits a 390 px phone; pointer
events make drawing work with a mouse, a pen or a finger.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.auth import Principal
from api.pages.common import layout
from api.pages.i18n import page_strings
from cameras.schema import EbikeEntryHazard, FallingObjectHazard, FireLaneBlockedHazard

_SCALARS = ("number", "integer", "boolean")

# The page's words in both languages (api.pages.i18n; HW.t in the script).
_ZH = {
    "page.title": "区域编辑",
    "zones.title": "区域编辑",
    "zones.camera": "摄像头",
    "zones.help": "多边形：逐点单击，再点“完成”。线：单击两个端点，再单击线的内侧。选中区域后"
    "可拖动顶点；楼层线可上下拖动。坐标为画面的比例 (0..1)。",
    "zones.name": "名称",
    "zones.new_polygon": "新多边形",
    "zones.new_line": "新线",
    "zones.finish": "完成",
    "zones.cancel": "取消",
    "zones.flip": "翻转内侧",
    "zones.delete": "删除",
    "zones.save": "保存",
    "zones.zones": "区域",
    "zones.hazards": "隐患及参数",
    "zones.floors": "楼层线",
    "zones.floors_help": "共 {count} 层；最低一条线是 {lowest} 层的底。拖动画面上的橙色线。",
    "zones.no_floors": "此摄像头没有楼层线。",
    "zones.no_hazards": "此摄像头没有配置隐患。",
    "zones.polygon": "多边形（{n} 点）",
    "zones.line": "线",
    "zones.only_admins": "只有管理员可以保存",
    "zones.no_camera": "没有可见的摄像头",
    "zones.bad_name": "名称须为小写字母、数字、_ 或 -",
    "zones.exists": "已有名为 {name} 的区域",
    "zones.click_points": "单击添加顶点，然后点“完成”",
    "zones.click_ends": "单击线的两个端点",
    "zones.click_inward": "单击线的内侧",
    "zones.three_points": "多边形至少需要三个点",
    "zones.unsaved": "未保存",
    "zones.saved": "已保存（{when}），运行中的分析将在几秒内采用",
    "zones.from_config": "来自配置文件",
    "zones.edited_by": "{by} 编辑于 {when}",
    "zones.waiting": "正在等待实时画面…",
    "zones.no_picture": "暂无实时画面：摄像头尚未送来画面。区域画在空白底图上。",
    "zones.down": "摄像头{state}：显示的是 {when} 的最后画面",
    "zones.old_picture": "画面已 {age} 秒未更新（{when}）",
    "zones.live_ok": "实时画面 {when}",
    "zones.detections": "当前检测：{n} 个目标",
    "zones.motion": "运动区域：{n} 处",
    "zones.not_reported": "该分析进程未上报当前检测",
    "zones.running": "运行中的区域：{zones}",
    "zones.state.streaming": "在线",
    "zones.state.connecting": "连接中",
    "zones.state.backoff": "断线重连中",
    "zones.state.stopped": "已停止",
    "zones.state.stale": "无状态（分析未运行或连不上 Redis）",
    "zones.zone": "区域",
    "zones.floor": "{n} 层",
    "zones.load_failed": "读取失败：{error}",
}
_EN = {
    "page.title": "Zone editor",
    "zones.title": "Zone editor",
    "zones.camera": "Camera",
    "zones.help": "Polygon: click each point, then Finish. Line: click both ends, then "
    "click on its inward side. Drag the vertices of the selected zone; drag floor lines "
    "up and down. Coordinates are fractions of the picture (0..1).",
    "zones.name": "Name",
    "zones.new_polygon": "New polygon",
    "zones.new_line": "New line",
    "zones.finish": "Finish",
    "zones.cancel": "Cancel",
    "zones.flip": "Flip inward",
    "zones.delete": "Delete",
    "zones.save": "Save",
    "zones.zones": "Zones",
    "zones.hazards": "Hazards and their parameters",
    "zones.floors": "Floor lines",
    "zones.floors_help": "{count} floors; the lowest line is the base of floor {lowest}. "
    "Drag the orange lines on the picture.",
    "zones.no_floors": "This camera has no floor lines.",
    "zones.no_hazards": "No hazard is configured on this camera.",
    "zones.polygon": "polygon ({n} points)",
    "zones.line": "line",
    "zones.only_admins": "Only admins can save",
    "zones.no_camera": "No camera visible to this account",
    "zones.bad_name": "A name is lowercase letters, digits, _ or -",
    "zones.exists": "A zone named {name} exists",
    "zones.click_points": "Click to add points, then Finish",
    "zones.click_ends": "Click both ends of the line",
    "zones.click_inward": "Click on the inward side of the line",
    "zones.three_points": "A polygon needs at least 3 points",
    "zones.unsaved": "Not saved yet",
    "zones.saved": "Saved ({when}); the running analysis takes it up within seconds",
    "zones.from_config": "from the config file",
    "zones.edited_by": "edited by {by}, {when}",
    "zones.waiting": "Waiting for the live picture…",
    "zones.no_picture": "No live picture yet: the camera has not sent one. Zones are drawn "
    "on a blank frame.",
    "zones.down": "Camera {state}: showing its last picture, from {when}",
    "zones.old_picture": "The picture has not changed for {age} s ({when})",
    "zones.live_ok": "Live picture {when}",
    "zones.detections": "Detected now: {n} objects",
    "zones.motion": "Moving: {n} regions",
    "zones.not_reported": "this pipeline does not report its detections",
    "zones.running": "Zones running: {zones}",
    "zones.state.streaming": "streaming",
    "zones.state.connecting": "connecting",
    "zones.state.backoff": "disconnected, retrying",
    "zones.state.stopped": "stopped",
    "zones.state.stale": "without status (analysis not running, or Redis unreachable)",
    "zones.zone": "Zone",
    "zones.floor": "floor {n}",
    "zones.load_failed": "Could not load: {error}",
}
STRINGS = page_strings("zones", zh=_ZH, en=_EN)

_BODY = """
<div class="card"><h2 data-i18n="zones.title"></h2>
<div class="zrow"><label for="camera" data-i18n="zones.camera"></label><select id="camera"></select>
<span id="source" class="muted"></span></div>
<p class="muted" data-i18n="zones.help"></p>
<div id="tools" class="zrow">
<label for="zname" data-i18n="zones.name"></label>
<input id="zname" maxlength="63" placeholder="lane" size="12">
<button id="newpoly" data-i18n="zones.new_polygon"></button>
<button id="newline" data-i18n="zones.new_line"></button>
<button id="finish" disabled data-i18n="zones.finish"></button>
<button id="cancel" disabled data-i18n="zones.cancel"></button>
<button id="flip" disabled data-i18n="zones.flip"></button>
<button id="delete" disabled data-i18n="zones.delete"></button>
<button id="save" class="primary" data-i18n="zones.save"></button>
</div>
<p id="msg" role="status"></p></div>
<div class="card"><div id="stage">
<img id="snap" alt="">
<canvas id="canvas"></canvas></div>
<p id="live" class="muted"></p><p id="seen" class="muted"></p></div>
<div class="grid">
<div class="card"><h3 data-i18n="zones.zones"></h3><ul id="zlist"></ul></div>
<div class="card"><h3 data-i18n="zones.hazards"></h3><div id="hazards"></div></div>
<div class="card"><h3 data-i18n="zones.floors"></h3><p id="floors" class="muted"></p></div>
</div>
<style>
.zrow{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center}
#stage{position:relative;width:100%;max-width:960px;line-height:0}
#snap{width:100%;display:block;background:#555;aspect-ratio:16/9;object-fit:fill}
#canvas{position:absolute;left:0;top:0;width:100%;height:100%;cursor:crosshair;touch-action:none}
.hz{border-top:1px solid #d0d7de;padding:.4rem 0}.hz label{display:block;margin:.3rem 0 0}
.hz input[type=number]{width:7rem}.hz .muted{display:block}
</style>
"""

_SCRIPT = """
const LANG = HW.lang;
const t = (key, vars) => HW.t(key, vars);

const camSel = document.getElementById('camera');
const snap = document.getElementById('snap');
const canvas = document.getElementById('canvas');
const ctx = canvas.getContext('2d');
const msg = document.getElementById('msg');
const zlist = document.getElementById('zlist');
const btn = id => document.getElementById(id);
const POLL_MS = 2000, OLD_PICTURE_S = 30;
let zones = {}, floors = null, hazards = [], selected = null, draft = null, drag = null;
let live = null, pictureAt = null, pictureUrl = null, pollTimer = null, loadSeq = 0;
let edited = {floors: false, hazards: false};  // sent only when edited: the rest stays as is

for (const c of PAGE.cameras) {
  camSel.append(HW.el('option', {value: c.id}, c.name ? c.id + ' — ' + c.name : c.id));
}
if (PAGE.cameras.length) camSel.value = PAGE.cameras[0].id;
if (!PAGE.can_edit) {
  for (const id of ['newpoly', 'newline', 'save', 'zname']) btn(id).disabled = true;
  btn('save').title = t('zones.only_admins');
}

function say(text, ok) { msg.className = ok ? 'ok' : 'err'; msg.textContent = text; }
function unsaved() { say(t('zones.unsaved'), true); }
function r4(v) { return Math.round(v * 10000) / 10000; }
function clamp01(v) { return r4(Math.min(1, Math.max(0, v))); }
function toPx(p) { return [p[0] * canvas.width, p[1] * canvas.height]; }
function fromEvent(e) {
  const r = canvas.getBoundingClientRect();
  return [clamp01((e.clientX - r.left) / r.width), clamp01((e.clientY - r.top) / r.height)];
}
function points(z) { return z.polygon || z.line || []; }
function clock(iso) {
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleTimeString(LANG);
}

function sizeCanvas() {
  const r = snap.getBoundingClientRect();
  canvas.width = Math.max(1, Math.round(r.width));
  canvas.height = Math.max(1, Math.round(r.height));
  draw();
}

// ----- drawing --------------------------------------------------------------------------------

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
  if (z.line && z.inward && pts.length === 2) drawArrow(pts, z.inward);
  if (active) {
    ctx.fillStyle = '#ffd60a';
    for (const p of pts) ctx.fillRect(p[0] - 5, p[1] - 5, 10, 10);
  }
  label(id, pts[0][0] + 6, pts[0][1] - 6, '#fff');
}

function drawArrow(pts, inward) {
  const mx = (pts[0][0] + pts[1][0]) / 2, my = (pts[0][1] + pts[1][1]) / 2;
  const n = Math.hypot(inward[0], inward[1]) || 1;
  const ux = inward[0] / n, uy = inward[1] / n, len = Math.max(24, canvas.width / 20);
  const ex = mx + len * ux, ey = my + len * uy;
  ctx.beginPath(); ctx.moveTo(mx, my); ctx.lineTo(ex, ey);
  ctx.lineTo(ex - 9 * ux + 6 * uy, ey - 9 * uy - 6 * ux); ctx.moveTo(ex, ey);
  ctx.lineTo(ex - 9 * ux - 6 * uy, ey - 9 * uy + 6 * ux); ctx.stroke();
}

function label(text, x, y, color) {
  ctx.font = '13px system-ui, "Noto Sans CJK SC", sans-serif';
  const w = ctx.measureText(text).width;
  x = Math.min(Math.max(2, x), canvas.width - w - 4);
  y = Math.min(Math.max(14, y), canvas.height - 3);
  ctx.fillStyle = 'rgba(0,0,0,.55)'; ctx.fillRect(x - 2, y - 13, w + 4, 16);
  ctx.fillStyle = color; ctx.fillText(text, x, y);
}

function floorNumber(band) {  // band 0 is between the top two lines
  return floors.lowest_visible_floor + (floors.lines.length - 2 - band);
}

function drawFloors() {
  if (!floors) return;
  const ys = floors.lines.map(y => y * canvas.height);
  ctx.lineWidth = 2; ctx.strokeStyle = '#ff9f1c'; ctx.setLineDash([8, 5]);
  ys.forEach((y, i) => {
    ctx.lineWidth = drag && drag.floor === i ? 4 : 2;
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(canvas.width, y); ctx.stroke();
  });
  ctx.setLineDash([]);
  for (let i = 0; i + 1 < ys.length; i++) {
    label(t('zones.floor', {n: floorNumber(i)}), canvas.width - 70, (ys[i] + ys[i + 1]) / 2 + 5,
          '#ffbf69');
  }
}

function drawSeen() {
  if (!live) return;
  ctx.lineWidth = 2;
  for (const d of live.detections || []) {
    const [x1, y1, x2, y2] = d.xyxy_norm;
    ctx.strokeStyle = '#38d39f';
    ctx.strokeRect(x1 * canvas.width, y1 * canvas.height,
                   (x2 - x1) * canvas.width, (y2 - y1) * canvas.height);
    label(d.label || '?', x1 * canvas.width, y1 * canvas.height - 3, '#38d39f');
  }
  ctx.setLineDash([3, 3]); ctx.strokeStyle = '#f15bb5';
  for (const m of live.motion || []) {
    const [x1, y1, x2, y2] = m.xyxy_norm;
    ctx.strokeRect(x1 * canvas.width, y1 * canvas.height,
                   (x2 - x1) * canvas.width, (y2 - y1) * canvas.height);
  }
  ctx.setLineDash([]);
}

function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  drawFloors();
  for (const [id, z] of Object.entries(zones)) drawZone(id, z, id === selected);
  drawSeen();
  if (draft) {
    const z = draft.kind === 'polygon' ? {polygon: draft.points} : {line: draft.points};
    ctx.setLineDash([6, 4]); drawZone(draft.name, z, true); ctx.setLineDash([]);
  }
}

// ----- lists and forms -----------------------------------------------------------------------

function listZones() {
  HW.clear(zlist);
  for (const [id, z] of Object.entries(zones)) {
    const kind = z.polygon ? t('zones.polygon', {n: z.polygon.length}) : t('zones.line');
    const pick = e => { e.preventDefault(); select(id); };
    zlist.append(HW.el('li', {}, HW.el('a', {href: '#', onclick: pick}, id), ' · ' + kind));
  }
  listHazards();
}

function hazardField(hazard, field) {
  const path = field.name.split('.');
  const holder = path.length === 2 ? (hazard[path[0]] = hazard[path[0]] || {}) : hazard;
  const key = path[path.length - 1];
  const id = 'hz-' + hazards.indexOf(hazard) + '-' + field.name.replace('.', '-');
  const attrs = {id, disabled: !PAGE.can_edit};
  let input;
  if (field.type === 'boolean') {
    input = HW.el('input', Object.assign(attrs, {type: 'checkbox'}));
    input.checked = !!holder[key];
    input.addEventListener('change', () => {
      holder[key] = input.checked; edited.hazards = true; unsaved();
    });
  } else {
    input = HW.el('input', Object.assign(attrs, {type: 'number', min: field.min, max: field.max,
      step: field.type === 'integer' ? 1 : 'any', name: field.name}));
    input.value = holder[key] === null || holder[key] === undefined ? '' : holder[key];
    if (field.nullable) input.placeholder = '—';
    input.addEventListener('input', () => {
      const v = input.value.trim();
      holder[key] = v === '' && field.nullable ? null : Number(v);
      edited.hazards = true; unsaved();
    });
  }
  return HW.el('label', {for: id}, field.name + ' ', input,
                HW.el('span', {class: 'muted'}, field.description));
}

function listHazards() {
  const box = HW.clear(document.getElementById('hazards'));
  if (!hazards.length) { box.append(HW.el('p', {class: 'muted'}, t('zones.no_hazards'))); return; }
  hazards.forEach((hazard, i) => {
    const zoneSel = HW.el('select', {id: 'hz-' + i + '-zone', disabled: !PAGE.can_edit});
    for (const id of new Set([...Object.keys(zones), hazard.zone])) {
      zoneSel.append(HW.el('option', {value: id}, id));
    }
    zoneSel.value = hazard.zone;
    zoneSel.addEventListener('change', () => {
      hazard.zone = zoneSel.value; edited.hazards = true; unsaved();
    });
    const fields = (PAGE.hazard_fields[hazard.kind] || []).map(f => hazardField(hazard, f));
    box.append(HW.el('div', {class: 'hz'}, HW.el('strong', {}, HW.label('kind', hazard.kind)),
      HW.el('label', {for: zoneSel.id}, t('zones.zone') + ' ', zoneSel), ...fields));
  });
}

function showFloors() {
  const p = document.getElementById('floors');
  p.textContent = floors ? t('zones.floors_help', {count: floors.count,
                                                   lowest: floors.lowest_visible_floor})
                         : t('zones.no_floors');
}

function select(id) {
  selected = id;
  const z = zones[id];
  btn('delete').disabled = !PAGE.can_edit || !z;
  btn('flip').disabled = !PAGE.can_edit || !z || !z.line;
  draw();
}

// ----- editing ---------------------------------------------------------------------------------

function startDraft(kind) {
  const name = btn('zname').value.trim();
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) { say(t('zones.bad_name')); return; }
  if (zones[name]) { say(t('zones.exists', {name})); return; }
  draft = {kind, name, points: [], inward: null};
  btn('finish').disabled = kind !== 'polygon'; btn('cancel').disabled = false;
  say(kind === 'polygon' ? t('zones.click_points') : t('zones.click_ends'), true);
}

function finishDraft() {
  if (!draft) return;
  if (draft.kind === 'polygon') {
    if (draft.points.length < 3) { say(t('zones.three_points')); return; }
    zones[draft.name] = {polygon: draft.points};
  } else {
    zones[draft.name] = {line: draft.points, inward: draft.inward};
  }
  const name = draft.name; draft = null;
  btn('finish').disabled = true; btn('cancel').disabled = true;
  listZones(); select(name); unsaved();
}

function draftClick(p) {
  if (draft.kind === 'polygon') { draft.points.push(p); draw(); return; }
  if (draft.points.length < 2) {
    draft.points.push(p);
    if (draft.points.length === 2) say(t('zones.click_inward'), true);
    draw(); return;
  }
  const a = draft.points[0], b = draft.points[1];
  draft.inward = [r4(p[0] - (a[0] + b[0]) / 2), r4(p[1] - (a[1] + b[1]) / 2)];
  finishDraft();
}

function grab(e) {
  // Hit-test where the user sees things: the canvas as laid out on the page (its drawing buffer
  // is resized a moment later by the ResizeObserver, and may lag the layout meanwhile).
  const r = canvas.getBoundingClientRect();
  const x = e.clientX - r.left, y = e.clientY - r.top, near = 10;
  if (selected && zones[selected]) {
    const i = points(zones[selected]).findIndex(q =>
      Math.abs(q[0] * r.width - x) < near && Math.abs(q[1] * r.height - y) < near);
    if (i >= 0) return {index: i};
  }
  if (floors) {
    const i = floors.lines.findIndex(fy => Math.abs(fy * r.height - y) < near);
    if (i >= 0) return {floor: i};
  }
  return null;
}

canvas.addEventListener('pointerdown', e => {
  if (e.button !== 0) return;
  if (draft) { draftClick(fromEvent(e)); return; }
  if (!PAGE.can_edit) return;
  drag = grab(e);
  if (drag) { canvas.setPointerCapture(e.pointerId); e.preventDefault(); }
});
canvas.addEventListener('pointermove', e => {
  if (!drag) return;
  const p = fromEvent(e);
  if (drag.floor !== undefined) {
    const lines = floors.lines, i = drag.floor, gap = 0.005;
    const lo = i > 0 ? lines[i - 1] + gap : 0, hi = i + 1 < lines.length ? lines[i + 1] - gap : 1;
    lines[i] = r4(Math.min(hi, Math.max(lo, p[1])));
    edited.floors = true;
  } else {
    points(zones[selected])[drag.index] = p;
  }
  draw();
});
canvas.addEventListener('pointerup', () => { if (drag) unsaved(); drag = null; draw(); });
canvas.addEventListener('pointercancel', () => { drag = null; draw(); });

btn('newpoly').addEventListener('click', () => startDraft('polygon'));
btn('newline').addEventListener('click', () => startDraft('line'));
btn('finish').addEventListener('click', finishDraft);
btn('cancel').addEventListener('click', () => {
  draft = null; btn('finish').disabled = true; btn('cancel').disabled = true; draw(); say('');
});
btn('delete').addEventListener('click', () => {
  if (!selected) return;
  delete zones[selected]; selected = null;
  listZones(); select(null); unsaved();
});
btn('flip').addEventListener('click', () => {
  const z = zones[selected];
  if (z && z.inward) { z.inward = [-z.inward[0], -z.inward[1]]; draw(); unsaved(); }
});
btn('save').addEventListener('click', async () => {
  const cam = camSel.value;
  try {
    const saved = await HW.api('/cameras/' + encodeURIComponent(cam) + '/zones', {
      method: 'PUT', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(Object.assign({zones}, edited.floors ? {floors} : {},
                                         edited.hazards ? {hazards} : {}))});
    show(saved);
    say(t('zones.saved', {when: clock(saved.updated_at)}), true);
  } catch (err) {
    const lines = ((err.body && err.body.errors) || []).map(x => x.loc + ': ' + x.msg);
    say(lines.length ? lines.join('\\n') : err.message);
  }
});

// ----- the camera: its zones and its live picture ------------------------------------------

function show(data) {
  zones = data.zones; floors = data.floors; hazards = data.hazards || [];
  edited = {floors: false, hazards: false};
  document.getElementById('source').textContent = data.source === 'override'
    ? t('zones.edited_by', {by: data.by, when: HW.when(data.updated_at)}) : t('zones.from_config');
  listZones(); showFloors(); select(null);
}

async function loadCamera() {
  const cam = camSel.value, seq = ++loadSeq;
  if (!cam) { say(t('zones.no_camera')); return; }
  selected = null; draft = null; live = null; pictureAt = null;
  snap.removeAttribute('src'); delete snap.dataset.camera; delete canvas.dataset.camera;
  document.getElementById('live').textContent = t('zones.waiting');
  try {
    const data = await HW.api('/cameras/' + encodeURIComponent(cam) + '/zones');
    if (seq !== loadSeq) return;
    show(data); say(''); canvas.dataset.camera = cam;
  } catch (err) {
    zones = {}; floors = null; hazards = []; listZones(); showFloors();
    say(t('zones.load_failed', {error: err.message}));
  }
  poll();
}

async function fetchPicture(cam, at, seq) {
  // no-store on both sides: the address never changes and the answer is never cached
  const r = await fetch('/cameras/' + encodeURIComponent(cam) + '/snapshot.jpg',
                        {cache: 'no-store', credentials: 'same-origin'});
  if (!r.ok) throw new Error('HTTP ' + r.status);
  const blob = await r.blob();
  if (seq !== loadSeq) return;  // another camera was picked meanwhile
  const url = URL.createObjectURL(blob);
  await new Promise((resolve, reject) => {
    snap.onload = resolve; snap.onerror = () => reject(new Error('not a picture'));
    snap.src = url;
  });
  if (pictureUrl) URL.revokeObjectURL(pictureUrl);
  pictureUrl = url; pictureAt = at; snap.dataset.camera = cam;
  if (snap.naturalWidth) snap.style.aspectRatio = snap.naturalWidth + ' / ' + snap.naturalHeight;
  sizeCanvas();
}

function describeLive() {
  const out = document.getElementById('live'), seen = document.getElementById('seen');
  out.className = 'muted';
  if (!live) return;
  const state = live.state;
  if (!pictureAt) {
    out.textContent = live.picture_at ? t('zones.waiting') : t('zones.no_picture');
  } else if (state !== 'streaming') {
    const name = t('zones.state.' + (state in {streaming: 1, connecting: 1, backoff: 1,
                                                stopped: 1} ? state : 'stale'));
    out.textContent = t('zones.down', {state: name, when: clock(pictureAt)});
    out.className = 'err';
  } else {
    const age = Math.round((Date.now() - new Date(pictureAt)) / 1000);
    out.textContent = age > OLD_PICTURE_S ? t('zones.old_picture', {age, when: clock(pictureAt)})
                                          : t('zones.live_ok', {when: clock(pictureAt)});
    if (age > OLD_PICTURE_S) out.className = 'err';
  }
  const parts = [];
  if (live.detections === null) parts.push(t('zones.not_reported'));
  else parts.push(t('zones.detections', {n: live.detections.length}));
  if (live.motion !== null) parts.push(t('zones.motion', {n: live.motion.length}));
  if (live.zones !== null) parts.push(t('zones.running', {zones: live.zones.join(', ') || '—'}));
  seen.textContent = parts.join(' · ');
}

async function poll() {
  clearTimeout(pollTimer);
  const cam = camSel.value, seq = loadSeq;
  if (!cam) return;
  try {
    const view = await HW.api('/cameras/' + encodeURIComponent(cam) + '/live');
    if (seq !== loadSeq) return;
    live = view;
  } catch (err) {
    live = {state: 'stale', detections: null, motion: null, zones: null, picture_at: pictureAt};
  }
  if (seq === loadSeq && live.picture_at && live.picture_at !== pictureAt) {
    // a picture that cannot be had now keeps the last good one on screen; the next poll retries
    try { await fetchPicture(cam, live.picture_at, seq); } catch (err) { console.warn(err); }
  }
  if (seq !== loadSeq) return;
  describeLive(); draw();
  pollTimer = setTimeout(poll, POLL_MS);
}

new ResizeObserver(sizeCanvas).observe(snap);
camSel.addEventListener('change', loadCamera);
sizeCanvas();
loadCamera();
"""


def _field(name: str, spec: dict[str, Any]) -> dict[str, Any] | None:
    """A scalar schema property as a form field (None for objects, lists and text)."""
    options = spec.get("anyOf", [spec])
    typed = [o for o in options if o.get("type") in _SCALARS]
    if len(typed) != 1 or any(o.get("type") not in (*_SCALARS, "null") for o in options):
        return None
    kind = typed[0]
    return {
        "name": name,
        "type": kind["type"],
        "min": kind.get("minimum", kind.get("exclusiveMinimum")),
        "max": kind.get("maximum", kind.get("exclusiveMaximum")),
        "nullable": any(o.get("type") == "null" for o in options),
        "description": spec.get("description", ""),
    }


def hazard_fields() -> dict[str, list[dict[str, Any]]]:
    """Each hazard kind's numeric and yes/no parameters (``membership.*`` included), with the
    bounds and descriptions of the config schema, for the page's forms."""
    out: dict[str, list[dict[str, Any]]] = {}
    for model in (FireLaneBlockedHazard, EbikeEntryHazard, FallingObjectHazard):
        schema = model.model_json_schema()
        defs = schema.get("$defs", {})
        kind = schema["properties"]["kind"]["const"]
        fields: list[dict[str, Any]] = []
        for name, spec in schema["properties"].items():
            ref = spec.get("$ref", "")
            if ref.startswith("#/$defs/"):
                nested = defs[ref.removeprefix("#/$defs/")]["properties"]
                fields.extend(
                    f for sub, s in nested.items() if (f := _field(f"{name}.{sub}", s)) is not None
                )
            elif (field := _field(name, spec)) is not None:
                fields.append(field)
        out[kind] = fields
    return out


def render_zones(principal: Principal, cameras: Sequence[dict[str, Any]], nonce: str) -> str:
    """The zone editor for ``cameras`` (the ones ``principal`` may see); saving needs admin."""
    data = {
        "cameras": list(cameras),
        "can_edit": principal.is_admin,
        "hazard_fields": hazard_fields(),
    }
    return layout(
        title=STRINGS["zh-CN"]["page.title"],
        active="zones",
        principal=principal,
        body=_BODY,
        script=_SCRIPT,
        nonce=nonce,
        page_data=data,
        strings=STRINGS,
    )
