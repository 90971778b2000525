"""``/ui/review``: the review queue, built for speed at a desk and for a grid worker's phone.

- The queue, newest first, filtered by kind, camera, zone, status, level and date (kind, camera,
  status and date by the API; zone and level in the page, which the API cannot filter by).
- The selected ticket: its clip, started at the hazard's onset (the camera's pre-roll into the
  clip), under an overlay drawn from what the ticket and its camera carry: the zone (polygon, or
  line with its inward arrow), a falling object's trajectory and its origin floor between the
  facade's floor lines, and the hazard's box when the ticket has one. Before and after pictures
  side by side once a recheck took the after picture. Only the moves the API lists for this
  caller (``allowed_transitions``: its role, its status) are offered; the API answers 403/409 to
  anything else and the page shows that answer.
- Keys (real key presses, ignored while typing in a field): j/k next/previous, c confirm (→ 上报
  reported), r reject (→ 注销 rejected) with a reason, x select for a bulk move, space
  play/pause, ←/→ one frame back/forward, o overlay on/off, ? the list of keys. A rejected ticket
  is a false alarm and stays in the store as such: ``hazardwatch dataset export`` exports it as
  a labelled negative (:mod:`api.cli_dataset`), the reason is its history note.
- Bulk: tick tickets (or x), then confirm or reject them all; each is moved only if that move is
  allowed for it, and the page says how many moved and why the others did not.
- For reviewers and admins, the box editor (:mod:`api.pages.annotator`).
- Who is responsible (责任单位/责任人, dispatched by :mod:`api.dispatch`); the office (the roles
  ``POST /tickets/{id}/assign`` takes) reassigns (改派) an open ticket with a reason, and the
  history shows each dispatch and reassignment, by whom and why.
- ``/ui/review?ticket=ID`` opens one ticket (a link in a notification).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.auth import Principal
from api.dispatch import ASSIGN_ROLES
from api.pages.annotator import CLASS_LABELS, EDITOR_BODY, EDITOR_SCRIPT
from api.pages.common import layout
from api.pages.dispatch import CONTACT_MAX, NAME_MAX
from api.pages.i18n import LABELS, page_strings
from api.schemas import MAX_NOTE_CHARS
from api.workflow import FIELD_ROLES, OFFICE_ROLES, TicketStatus, is_open
from api.zone_overrides import read_zones
from pipelines.config import HazardwatchConfig
from vision.annotations import ANNOTATION_CLASSES
from vision.types import HazardKind

# Seconds a ←/→ press moves the clip: one frame at 25 fps (the clip's own rate is not in the
# ticket; at 10-15 fps two presses make a frame).
FRAME_STEP_S = 0.04

STRINGS = page_strings(
    "review",
    zh={
        "page.title": "审核",
        "review.heading": "审核队列",
        "review.f.kind": "类型",
        "review.f.camera": "摄像头",
        "review.f.zone": "区域",
        "review.f.status": "状态",
        "review.f.level": "等级",
        "review.f.since": "起始日期",
        "review.f.any": "全部",
        "review.f.todo": "待审",
        "review.refresh": "刷新",
        "review.count": "{n} 条工单",
        "review.more": "更多",
        "review.empty": "没有符合条件的工单",
        "review.select_all": "全选",
        "review.selected": "已选 {n} 条",
        "review.bulk_confirm": "批量上报",
        "review.bulk_reject": "批量注销",
        "review.bulk_done": "{done} 条已改为{status}，{skipped} 条未改：{why}",
        "review.bulk_none": "先勾选工单（或按 x）",
        "review.pick": "从队列中选一条工单（j/k 上下切换）",
        "review.camera": "摄像头 {camera} · 区域 {zone}",
        "review.found": "发现于 {when}",
        "review.deadline": "期限 {when}",
        "review.before": "整改前",
        "review.after": "整改后",
        "review.no_snapshot": "无快照",
        "review.no_clip": "无视频",
        "review.overlay": "叠加显示",
        "review.origin_floor": "起始楼层 {floor} 层",
        "review.trajectory": "轨迹",
        "review.onset": "视频从隐患开始处播放（预录 {s} 秒）",
        "review.confirm": "确认上报 (c)",
        "review.reject": "注销 (r)",
        "review.move_to": "→ {status}",
        "review.note": "备注",
        "review.reason": "注销原因",
        "review.reason.false_object": "误报：不是该类目标",
        "review.reason.outside_zone": "目标不在区域内",
        "review.reason.allowed": "允许的情况（如临时装卸、救护车）",
        "review.reason.duplicate": "重复工单",
        "review.reason.other": "其他",
        "review.reason_text": "补充说明（可选）",
        "review.reject_submit": "确认注销",
        "review.cancel": "取消",
        "review.not_allowed": "你的角色不能把这条工单（{status}）改为{target}",
        "review.moved": "{code} → {status}",
        "review.annotate": "标注框",
        "review.history": "处理记录",
        "review.deliveries": "通知记录",
        "review.d.none": "还没有发出通知",
        "review.d.line": "{channel} · {type} · {status} · 尝试 {attempts} 次",
        "review.hotspot_of": "隐患热点（同一点位反复发生）：",
        "review.members": "本热点关联的工单（{n}）",
        "review.hotspot": "隐患热点",
        "review.hotspot_no_clip": "隐患热点没有自己的视频：每个关联工单都有。",
        "review.public_note": "居民只能看到已销号、已模糊处理的记录。",
        "review.keys": "快捷键",
        "review.keys.text": "j/k 下一条/上一条 · c 确认上报 · r 注销 · x 勾选 · 空格 播放/暂停 · "
        "←/→ 逐帧 · o 叠加 · ? 帮助",
        "review.unit": "责任单位",
        "review.person": "责任人",
        "review.unassigned": "未派单",
        "review.reassign": "改派",
        "review.a.title": "改派工单 {code}",
        "review.a.unit_name": "责任单位",
        "review.a.unit_contact": "单位联系方式（可选）",
        "review.a.person_name": "责任人（可选）",
        "review.a.person_contact": "责任人联系方式（可选）",
        "review.a.reason": "改派原因（必填，记入处理记录）",
        "review.a.submit": "确认改派",
        "review.a.need_unit": "请填写责任单位",
        "review.a.need_person": "填写了责任人联系方式，也请填写责任人姓名",
        "review.a.need_reason": "请填写改派原因",
        "review.a.done": "{code} 已改派给 {who}",
        "review.h.assigned": "派单 → {who}（规则 {rule}）",
        "review.h.reassigned": "改派 → {who}（原为 {previous}）",
    },
    en={
        "page.title": "Review",
        "review.heading": "Review queue",
        "review.f.kind": "Kind",
        "review.f.camera": "Camera",
        "review.f.zone": "Zone",
        "review.f.status": "Status",
        "review.f.level": "Level",
        "review.f.since": "Since",
        "review.f.any": "All",
        "review.f.todo": "To review",
        "review.refresh": "Refresh",
        "review.count": "Tickets: {n}",
        "review.more": "More",
        "review.empty": "No ticket matches",
        "review.select_all": "Select all",
        "review.selected": "{n} selected",
        "review.bulk_confirm": "Confirm selected",
        "review.bulk_reject": "Reject selected",
        "review.bulk_done": "{done} moved to {status}, {skipped} not moved: {why}",
        "review.bulk_none": "Tick tickets first (or press x)",
        "review.pick": "Pick a ticket in the queue (j/k move through it)",
        "review.camera": "Camera {camera} · zone {zone}",
        "review.found": "Found {when}",
        "review.deadline": "Deadline {when}",
        "review.before": "Before",
        "review.after": "After",
        "review.no_snapshot": "No snapshot",
        "review.no_clip": "No clip",
        "review.overlay": "Overlay",
        "review.origin_floor": "Origin floor {floor}",
        "review.trajectory": "Trajectory",
        "review.onset": "The clip starts at the hazard's onset ({s} s pre-roll)",
        "review.confirm": "Confirm (c)",
        "review.reject": "Reject (r)",
        "review.move_to": "→ {status}",
        "review.note": "Note",
        "review.reason": "Why reject",
        "review.reason.false_object": "False alarm: not that kind of object",
        "review.reason.outside_zone": "The object is not in the zone",
        "review.reason.allowed": "Allowed (loading, an ambulance…)",
        "review.reason.duplicate": "Duplicate ticket",
        "review.reason.other": "Other",
        "review.reason_text": "More detail (optional)",
        "review.reject_submit": "Reject",
        "review.cancel": "Cancel",
        "review.not_allowed": "Your role cannot move this ticket ({status}) to {target}",
        "review.moved": "{code} → {status}",
        "review.annotate": "Annotate boxes",
        "review.history": "History",
        "review.deliveries": "Notifications sent",
        "review.d.none": "No notification sent yet",
        "review.d.line": "{channel} · {type} · {status} · {attempts} attempt(s)",
        "review.hotspot_of": "Hotspot (it keeps happening here): ",
        "review.members": "Tickets of this hotspot ({n})",
        "review.hotspot": "Hotspot",
        "review.hotspot_no_clip": "A hotspot has no clip of its own: each of its tickets has one.",
        "review.public_note": "Residents see closed, blurred records only.",
        "review.keys": "Keys",
        "review.keys.text": "j/k next/previous · c confirm · r reject · x select · space "
        "play/pause · ←/→ one frame · o overlay · ? help",
        "review.unit": "Responsible unit",
        "review.person": "Responsible person",
        "review.unassigned": "Not assigned",
        "review.reassign": "Reassign",
        "review.a.title": "Reassign {code}",
        "review.a.unit_name": "Responsible unit",
        "review.a.unit_contact": "Unit's contact (optional)",
        "review.a.person_name": "Responsible person (optional)",
        "review.a.person_contact": "Person's contact (optional)",
        "review.a.reason": "Why (required, kept in the history)",
        "review.a.submit": "Reassign",
        "review.a.need_unit": "Give the responsible unit",
        "review.a.need_person": "A contact for the responsible person needs the person's name",
        "review.a.need_reason": "Give the reason for reassigning",
        "review.a.done": "{code} reassigned to {who}",
        "review.h.assigned": "Dispatched → {who} (rule {rule})",
        "review.h.reassigned": "Reassigned → {who} (was {previous})",
    },
)

REJECT_REASONS = ("false_object", "outside_zone", "allowed", "duplicate", "other")

_BODY = """
<div class="card" id="filters">
<h2 data-i18n="review.heading"></h2>
<div class="filters">
<label><span data-i18n="review.f.status"></span><select id="f-status"></select></label>
<label><span data-i18n="review.f.kind"></span><select id="f-kind"></select></label>
<label><span data-i18n="review.f.camera"></span><select id="f-camera"></select></label>
<label><span data-i18n="review.f.zone"></span><select id="f-zone"></select></label>
<label><span data-i18n="review.f.level"></span><select id="f-level"></select></label>
<label><span data-i18n="review.f.since"></span><input type="date" id="f-since"></label>
<button id="reload" type="button" data-i18n="review.refresh"></button>
</div>
<p class="muted"><span id="count"></span><span id="keys-help"> · <span
 data-i18n="review.keys"></span>: <span data-i18n="review.keys.text"></span></span></p>
<p id="msg" class="err" role="alert"></p></div>
<div class="review">
<div class="card queue">
<div class="bulk" id="bulk">
<label><input type="checkbox" id="select-all"><span data-i18n="review.select_all"></span></label>
<span id="selected-count" class="muted"></span>
<button type="button" id="bulk-confirm" class="primary" data-i18n="review.bulk_confirm"></button>
<button type="button" id="bulk-reject" class="danger" data-i18n="review.bulk_reject"></button>
</div>
<ol id="list" class="qlist"></ol>
<p><button id="more" type="button" hidden data-i18n="review.more"></button></p>
</div>
<div class="card detail" id="detail" tabindex="-1">
<p class="muted" data-i18n="review.pick"></p></div>
</div>
<form id="reject-form" class="card" hidden>
<h3 data-i18n="review.reason"></h3>
<p id="reject-what" class="muted"></p>
<select id="reject-reason"></select>
<input type="text" id="reject-text" maxlength="1500" data-i18n-placeholder="review.reason_text">
<p><button type="submit" class="danger" id="reject-submit"
 data-i18n="review.reject_submit"></button>
<button type="button" id="reject-cancel" data-i18n="review.cancel"></button></p>
</form>
__EDITOR__
"""

_STYLE = """<style>
.filters{display:flex;flex-wrap:wrap;gap:.4rem .8rem;align-items:end}
.filters label{display:flex;flex-direction:column;font-size:.85rem;margin:0}
.filters select,.filters input{min-width:0;max-width:11rem}
.review{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1.5fr);gap:1rem;
align-items:start}
@media (max-width:900px){.review{grid-template-columns:minmax(0,1fr)}}
.bulk{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin-bottom:.5rem}
.qlist{list-style:none;margin:0;padding:0;max-height:75vh;overflow-y:auto}
.qlist li{display:flex;gap:.5rem;align-items:flex-start;padding:.45rem .3rem;
border-bottom:1px solid #e3e8ee;cursor:pointer}
.qlist li.cur{background:#e6eef7;outline:2px solid #457b9d;outline-offset:-2px}
.qlist li .t{flex:1;min-width:0}.qlist li .code{font-weight:600}
.qlist li input{margin-top:.25rem}
.st{display:inline-block;padding:0 .35rem;border-radius:3px;background:#eef1f4;font-size:.85rem}
.st-rejected{background:#fbe3e6;color:#8a1020}.st-reported{background:#e3f3e6;color:#1b5e2a}
.hotspot-tag{background:#fff1d6;color:#7a4b00}
.player{position:relative;line-height:0;background:#000;border-radius:4px;max-width:100%}
.player video{width:100%;display:block}
.player svg{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none}
.ba{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:.5rem;margin:.5rem 0}
.ba figure{margin:0}.ba img{width:100%;border-radius:4px;background:#000}
.actions{display:flex;flex-wrap:wrap;gap:.4rem;margin:.5rem 0}
.actions input{flex:1 1 100%}
@media (max-width:600px){#keys-help{display:none}}
#reject-form{position:fixed;left:50%;top:20%;transform:translateX(-50%);z-index:10;
width:min(30rem,calc(100vw - 1rem));box-shadow:0 4px 24px #0005}
#reject-form select,#reject-form input{width:100%;margin:.3rem 0}
.assignee{display:flex;flex-wrap:wrap;gap:.2rem 1rem;align-items:baseline;margin:.4rem 0;
padding:.4rem .5rem;background:#f4f6f8;border-radius:4px}
.assignee button{margin-left:auto}
.assign{border:1px solid #d0d7de;border-radius:4px;padding:.5rem;margin:.4rem 0}
.assign h4{margin:0 0 .4rem}.agrid{display:grid;gap:.4rem .8rem;
grid-template-columns:repeat(auto-fill,minmax(min(14rem,100%),1fr))}
.assign label{display:flex;flex-direction:column;margin:.2rem 0;font-size:.9rem}
.assign input,.assign textarea{width:100%}
</style>"""

_SCRIPT = """
const $ = (id) => document.getElementById(id);
const list = $('list'), msg = $('msg'), detail = $('detail'), more = $('more');
const PAGE_SIZE = 100;
const ST = {items: [], cur: -1, selected: new Set(), pages: [], overlay: true, rejectFor: null,
            gen: 0};

function say(text, ok) { msg.className = ok ? 'ok' : 'err'; msg.textContent = text || ''; }
function option(sel, value, text) { sel.append(HW.el('option', {value}, text)); }
function camerasSeen() { return Object.keys(PAGE.cameras).sort(); }

// ----- filters -----
function buildFilters() {
  const fs = $('f-status');
  if (PAGE.public) option(fs, 'closed', HW.label('status', 'closed'));
  else {
    option(fs, 'todo', HW.t('review.f.todo'));
    for (const s of PAGE.statuses) option(fs, s, HW.label('status', s));
    option(fs, '', HW.t('review.f.any'));
  }
  const fk = $('f-kind'); option(fk, '', HW.t('review.f.any'));
  for (const k of PAGE.kinds) option(fk, k, HW.label('kind', k));
  const fc = $('f-camera'); option(fc, '', HW.t('review.f.any'));
  for (const c of camerasSeen()) option(fc, c, PAGE.cameras[c].name || c);
  const fl = $('f-level'); option(fl, '', HW.t('review.f.any'));
  for (const l of PAGE.levels) option(fl, l, HW.label('level', l));
  fillZones();
  if (PAGE.public) {  // no camera or zone to filter by, no move to make by key
    for (const id of ['f-camera', 'f-zone']) $(id).closest('label').hidden = true;
    $('keys-help').hidden = true;
  }
  if (!PAGE.office) $('bulk-reject').hidden = true;  // rejecting (注销) is the office's move
}
function fillZones() {
  const fz = HW.clear($('f-zone')), cam = $('f-camera').value;
  option(fz, '', HW.t('review.f.any'));
  const names = new Set();
  for (const c of (cam ? [cam] : camerasSeen())) {
    for (const z of Object.keys((PAGE.cameras[c] || {}).zones || {})) names.add(z);
  }
  for (const z of [...names].sort()) option(fz, z, z);
}
function query(status, offset) {
  const q = new URLSearchParams({limit: PAGE_SIZE, offset});
  if (status) q.set('status', status);
  if ($('f-kind').value) q.set('kind', $('f-kind').value);
  if ($('f-camera').value) q.set('camera', $('f-camera').value);
  if ($('f-since').value) {
    const d = new Date($('f-since').value + 'T00:00:00');
    if (!isNaN(d)) q.set('since', d.toISOString());
  }
  return '/tickets?' + q.toString();
}
function wanted(t) {
  return (!$('f-zone').value || t.zone === $('f-zone').value) &&
         (!$('f-level').value || t.level === $('f-level').value);
}

// ----- the queue -----
async function load(reset) {
  say('');
  const gen = ++ST.gen;  // a newer load (filters changed meanwhile) makes this one's answer stale
  if (reset) {
    const s = $('f-status').value;
    ST.pages = (s === 'todo' ? ['discovered', 'reported'] : [s]).map(x => ({status: x, offset: 0,
      total: null}));
    ST.items = []; ST.cur = -1; ST.selected.clear();
  }
  try {
    let got = [];
    for (const p of ST.pages) {
      if (p.total !== null && p.offset >= p.total) continue;
      const page = await HW.api(query(p.status, p.offset));
      if (gen !== ST.gen) return;
      p.total = page.total; p.offset += PAGE_SIZE;
      got = got.concat(page.items);
    }
    const known = new Set(ST.items.map(t => t.id));
    ST.items = ST.items.concat(got.filter(t => !known.has(t.id) && wanted(t)));
    ST.items.sort((a, b) => (b.created_at || '').localeCompare(a.created_at || ''));
    more.hidden = ST.pages.every(p => p.offset >= p.total);
    const total = ST.pages.reduce((n, p) => n + (p.total || 0), 0);
    $('count').textContent = HW.t('review.count', {n: total});
    drawList();
    if (reset) {
      const wantedId = new URLSearchParams(location.search).get('ticket');
      if (wantedId) await openById(wantedId);
      else if (ST.items.length) show(0, false);
      else showNothing();
    }
  } catch (err) {
    if (gen === ST.gen) say(HW.t('common.error', {message: err.message}));
  }
}
async function openById(id) {
  let i = ST.items.findIndex(t => t.id === id || t.code === id);
  if (i < 0) {
    const t = await HW.api('/tickets/' + encodeURIComponent(id));
    ST.items.unshift(t); drawList(); i = 0;
  }
  show(i, true);
}
function showNothing() {
  HW.clear(detail).append(HW.el('p', {class: 'muted'},
    HW.t(ST.items.length ? 'review.pick' : 'review.empty')));
}
function statusTag(status) {
  return HW.el('span', {class: 'st st-' + status}, HW.label('status', status));
}
function kindOf(t) {  // the kind, and a hotspot's tag (its code's H serial says it too)
  const line = HW.el('span', {class: 'kind'}, HW.label('kind', t.kind));
  if (t.category === 'hotspot') {
    line.append(' ', HW.el('span', {class: 'st hotspot-tag'}, HW.t('review.hotspot')));
  }
  return line;
}
function row(t, i) {
  const box = HW.el('input', {type: 'checkbox', 'aria-label': t.code || t.id,
    onclick: (ev) => { ev.stopPropagation(); toggle(t.id, ev.target.checked); }});
  box.checked = ST.selected.has(t.id);
  if (PAGE.public) box.hidden = true;
  return HW.el('li', {'data-id': t.id, class: i === ST.cur ? 'cur' : '',
                      onclick: () => show(i, true)},
    box,
    HW.el('div', {class: 't'},
      HW.el('div', {}, HW.level(t.level), ' ', HW.el('span', {class: 'code'}, t.code || t.id)),
      HW.el('div', {}, kindOf(t), ' · ', statusTag(t.status)),
      HW.el('div', {class: 'muted'},
        t.camera_id + ' / ' + t.zone + ' · ' + HW.when(t.created_at))));
}
function drawList() {
  HW.clear(list);
  ST.items.forEach((t, i) => list.append(row(t, i)));
  if (!ST.items.length) list.append(HW.el('li', {class: 'muted'}, HW.t('review.empty')));
  drawSelection();
}
function drawSelection() {
  $('selected-count').textContent = HW.t('review.selected', {n: ST.selected.size});
  $('select-all').checked = ST.items.length > 0 && ST.selected.size === ST.items.length;
  if (PAGE.public) $('bulk').hidden = true;
}
function toggle(id, on) {
  if (on) ST.selected.add(id); else ST.selected.delete(id);
  const li = list.querySelector('li[data-id="' + CSS.escape(id) + '"] input');
  if (li) li.checked = on;
  drawSelection();
}
function replace(t) {
  const i = ST.items.findIndex(x => x.id === t.id);
  if (i < 0) return;
  ST.items[i] = t;
  const old = list.children[i];
  if (old) old.replaceWith(row(t, i));
  if (i === ST.cur) drawDetail(t);
}

// ----- the selected ticket -----
function show(i, focus) {
  if (i < 0 || i >= ST.items.length) return;
  ST.cur = i;
  for (const li of list.children) li.classList.toggle('cur', li.dataset.id === ST.items[i].id);
  const li = list.children[i];
  if (li && li.scrollIntoView) li.scrollIntoView({block: 'nearest'});
  drawDetail(ST.items[i]);
  if (focus && window.innerWidth <= 900) detail.scrollIntoView({block: 'start'});
}
function current() { return ST.cur >= 0 ? ST.items[ST.cur] : null; }
function svg(tag, attrs) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}
function pts(points) { return points.map(p => p[0] + ',' + p[1]).join(' '); }
function overlay(t) {
  const o = svg('svg', {viewBox: '0 0 1 1', preserveAspectRatio: 'none', id: 'overlay',
                        'aria-hidden': 'true'});
  const cam = PAGE.cameras[t.camera_id] || {};
  const zone = (cam.zones || {})[t.zone];
  const thin = {'vector-effect': 'non-scaling-stroke', fill: 'none'};
  if (zone && zone.polygon) {
    o.append(svg('polygon', {...thin, points: pts(zone.polygon), stroke: '#ffd166',
      'stroke-width': 2, fill: 'rgba(255,209,102,.12)', class: 'ov-zone'}));
  } else if (zone && zone.line) {
    const [a, b] = zone.line;
    o.append(svg('line', {...thin, x1: a[0], y1: a[1], x2: b[0], y2: b[1], stroke: '#ffd166',
      'stroke-width': 3, class: 'ov-zone'}));
    if (zone.inward) {
      const mx = (a[0] + b[0]) / 2, my = (a[1] + b[1]) / 2;
      const len = Math.hypot(zone.inward[0], zone.inward[1]) || 1;
      const ex = mx + 0.1 * zone.inward[0] / len, ey = my + 0.1 * zone.inward[1] / len;
      o.append(svg('line', {...thin, x1: mx, y1: my, x2: ex, y2: ey, stroke: '#ffd166',
        'stroke-width': 2, 'stroke-dasharray': '4 3', class: 'ov-inward'}));
      o.append(svg('circle', {cx: ex, cy: ey, r: 0.012, fill: '#ffd166'}));
    }
  }
  const floors = cam.floors;
  const d = t.details || {};
  if (floors && Number.isInteger(d.origin_floor)) {
    const n = floors.lines.length;
    const i = n - 2 - (d.origin_floor - floors.lowest_visible_floor);  // band lines[i]..[i+1]
    for (const y of floors.lines) {
      o.append(svg('line', {...thin, x1: 0, x2: 1, y1: y, y2: y, stroke: 'rgba(255,255,255,.35)',
        'stroke-width': 1}));
    }
    if (i >= 0 && i + 1 < n) {
      o.append(svg('rect', {x: 0, y: floors.lines[i], width: 1,
        height: floors.lines[i + 1] - floors.lines[i], fill: 'rgba(230,57,70,.25)',
        class: 'ov-floor'}));
    }
  }
  if (Array.isArray(d.trajectory_norm) && d.trajectory_norm.length > 1) {
    o.append(svg('polyline', {...thin, points: pts(d.trajectory_norm), stroke: '#e63946',
      'stroke-width': 2, class: 'ov-trajectory'}));
    const top = d.trajectory_norm.reduce((a, b) => (b[1] < a[1] ? b : a));
    o.append(svg('circle', {cx: top[0], cy: top[1], r: 0.012, fill: '#e63946'}));
  }
  const box = t.box_norm || d.box_norm;
  if (Array.isArray(box) && box.length === 4) {
    o.append(svg('rect', {...thin, x: box[0], y: box[1], width: box[2] - box[0],
      height: box[3] - box[1], stroke: '#06d6a0', 'stroke-width': 2, class: 'ov-box'}));
  }
  o.style.display = ST.overlay ? '' : 'none';
  return o;
}
function player(t) {
  const base = '/tickets/' + encodeURIComponent(t.id);
  const ev = t.evidence || {};
  const hasClip = PAGE.public ? ev.has_clip : !!(ev.clip || ev.clip_public);
  if (!hasClip) {
    const why = t.category === 'hotspot' ? 'review.hotspot_no_clip' : 'review.no_clip';
    return HW.el('p', {class: 'muted', id: 'no-clip'}, HW.t(why));
  }
  const video = HW.el('video', {src: base + '/clip.mp4', controls: true, preload: 'auto',
                                playsinline: true, muted: true, id: 'clip'});
  // The hazard's own offset into its clip (recorded with the evidence), else the camera's
  // configured pre-roll (tickets of earlier releases).
  const d0 = t.details || {};
  const preroll = Number.isFinite(d0.clip_onset_s) ? d0.clip_onset_s
    : (PAGE.cameras[t.camera_id] || {}).preroll_s;
  video.addEventListener('loadedmetadata', () => {
    if (preroll && isFinite(video.duration)) {
      video.currentTime = Math.max(0, Math.min(preroll, video.duration - 0.05));
    }
  }, {once: true});
  const wrap = HW.el('div', {class: 'player'}, video);
  if (!PAGE.public) wrap.append(overlay(t));
  const bits = [wrap];
  if (preroll) bits.push(HW.el('p', {class: 'muted'}, HW.t('review.onset', {s: preroll})));
  const d = t.details || {};
  if (Number.isInteger(d.origin_floor)) {
    bits.push(HW.el('p', {}, HW.el('strong', {}, HW.t('review.origin_floor',
      {floor: d.origin_floor}))));
  }
  if (!PAGE.public) {
    const ov = HW.el('input', {type: 'checkbox', id: 'overlay-on'});
    ov.checked = ST.overlay;
    ov.addEventListener('change', () => setOverlay(ov.checked));
    bits.push(HW.el('label', {}, ov, HW.t('review.overlay') + ' (o)'));
  }
  return HW.el('div', {}, ...bits);
}
function setOverlay(on) {
  ST.overlay = on;
  const o = $('overlay'); if (o) o.style.display = on ? '' : 'none';
  const box = $('overlay-on'); if (box) box.checked = on;
}
function picture(src, caption) {
  const img = HW.el('img', {src, alt: caption, loading: 'lazy'});
  img.addEventListener('error', () => img.replaceWith(
    HW.el('span', {class: 'muted'}, HW.t('review.no_snapshot'))));
  return HW.el('figure', {}, img, HW.el('figcaption', {class: 'muted'}, caption));
}
function pictures(t) {
  const base = '/tickets/' + encodeURIComponent(t.id);
  const ev = t.evidence || {};
  const has = PAGE.public ? ev.has_snapshot : !!ev.snapshot;
  const box = HW.el('div', {class: 'ba', id: 'before-after'});
  if (has) box.append(picture(base + '/snapshot.jpg', HW.t('review.before')));
  if (!PAGE.public && ev.after_snapshot) {
    box.append(picture(base + '/snapshot.jpg?after=1', HW.t('review.after')));
  }
  return box;
}
function actions(t) {
  const box = HW.el('div', {class: 'actions', id: 'actions'});
  if (PAGE.public) return HW.el('p', {class: 'muted'}, HW.t('review.public_note'));
  const allowed = t.allowed_transitions || [];
  const note = HW.el('input', {type: 'text', maxlength: 2000, id: 'note',
                               placeholder: HW.t('review.note')});
  box.append(note);
  for (const to of allowed) {
    let text = HW.t('review.move_to', {status: HW.label('status', to)});
    if (to === 'reported') text = HW.t('review.confirm');
    if (to === 'rejected') text = HW.t('review.reject');
    box.append(HW.el('button', {type: 'button', 'data-to': to,
      class: to === 'rejected' ? 'danger' : 'primary',
      onclick: () => (to === 'rejected' ? askReason([t]) : move(t, to, note.value))}, text));
  }
  if (PAGE.annotate && (t.evidence || {}).clip) {
    box.append(HW.el('button', {type: 'button', onclick: () => openEditor(t)},
      '✎ ' + HW.t('review.annotate')));
  }
  return box;
}
function history(t) {
  const ul = HW.el('ul', {class: 'hist'});
  for (const h of (t.history || [])) {
    const actor = h.actor ? ' · ' + h.actor : '';
    let step = (h.from ? HW.label('status', h.from) + ' → ' : '') +
      HW.label('status', h.to || '');
    let note = h.note;
    if (h.action === 'assigned') {  // the system's own note repeats the rule, in English
      step = HW.t('review.h.assigned', {who: who(h.responsible_unit, h.responsible_person),
                                        rule: h.rule || HW.t('common.none')});
      note = null;
    } else if (h.action === 'reassigned') {
      step = HW.t('review.h.reassigned', {who: who(h.responsible_unit, h.responsible_person),
                                          previous: who(h.previous_unit, h.previous_person)});
    }
    ul.append(HW.el('li', {'data-action': h.action || null},
                    HW.when(h.at) + actor + ' · ' + step + (note ? ' — ' + note : '')));
  }
  return HW.el('details', {}, HW.el('summary', {}, HW.t('review.history')), ul);
}

// ----- hotspots (隐患热点): a hotspot's member tickets, a member's hotspot -----
function openTicket(id) {
  const i = ST.items.findIndex(x => x.id === id);
  if (i >= 0) { show(i, true); return; }
  location.search = '?ticket=' + encodeURIComponent(id);
}
function linkTo(m) {
  return HW.el('a', {href: '?ticket=' + encodeURIComponent(m.id), 'data-ticket': m.id,
                     onclick: (ev) => { ev.preventDefault(); openTicket(m.id); }},
               m.code || m.id);
}
function links(t) {
  const box = HW.el('div', {id: 'links'});
  if (t.hotspot) {
    box.append(HW.el('div', {class: 'hotspot-of'}, HW.level(t.hotspot.level), ' ',
      HW.t('review.hotspot_of'), linkTo(t.hotspot)));
  }
  const members = t.members || [];
  if (members.length) {
    const ul = HW.el('ul', {class: 'hist', id: 'members'});
    for (const m of members) {
      ul.append(HW.el('li', {'data-ticket': m.id}, linkTo(m), ' · ',
        HW.label('status', m.status), ' · ' + HW.when(m.created_at)));
    }
    box.append(HW.el('div', {}, HW.t('review.members', {n: members.length})), ul);
  }
  return box;
}

// ----- the ticket's notification deliveries (GET /tickets/{id}/deliveries) -----
function deliveries(t) {
  if (!PAGE.sees_deliveries) return null;
  const ul = HW.el('ul', {class: 'hist', id: 'deliveries'});
  const box = HW.el('details', {}, HW.el('summary', {}, HW.t('review.deliveries')), ul);
  box.addEventListener('toggle', async () => {
    if (!box.open || box.dataset.loaded) return;
    box.dataset.loaded = '1';
    try {
      const data = await HW.api('/tickets/' + encodeURIComponent(t.id) + '/deliveries');
      const rows = data.deliveries || [];
      if (!rows.length) ul.append(HW.el('li', {class: 'muted'}, HW.t('review.d.none')));
      for (const d of rows) {
        const when = d.sent_at || d.next_attempt_at || d.created_at;
        ul.append(HW.el('li', {'data-status': d.status, 'data-type': d.type},
          HW.when(when) + ' · ' + HW.t('review.d.line', {channel: d.channel, type: d.type,
            status: d.status, attempts: d.attempts}) + (d.last_error ? ' — ' + d.last_error : '')));
      }
    } catch (err) {
      delete box.dataset.loaded;
      ul.append(HW.el('li', {class: 'err'}, HW.t('common.error', {message: err.message})));
    }
  });
  return box;
}

// ----- who is responsible (责任单位/责任人), reassigning (改派) -----
function who(unit, person) {
  if (!unit) return HW.t('review.unassigned');
  return unit.name + (person ? ' / ' + person.name : '');
}
function assignee(t) {
  const line = (key, c, cls) => HW.el('div', {class: cls},
    HW.el('span', {class: 'muted'}, HW.t(key)), ' ', c ? c.name : HW.t('common.none'),
    c && c.contact ? HW.el('span', {class: 'muted'}, ' · ' + c.contact) : null);
  const box = HW.el('div', {class: 'assignee', id: 'assignee'});
  if (t.responsible_unit) {
    box.append(line('review.unit', t.responsible_unit, 'unit'),
               line('review.person', t.responsible_person, 'person'));
  } else box.append(HW.el('div', {class: 'unit muted'}, HW.t('review.unassigned')));
  if (PAGE.can_assign && PAGE.open_statuses.includes(t.status)) {
    box.append(HW.el('button', {type: 'button', id: 'reassign', onclick: () => openAssign(t)},
                     HW.t('review.reassign')));
  }
  return box;
}
function openAssign(t) {
  const open = $('assign-form');
  if (open) { open.remove(); return; }
  const u = t.responsible_unit || {}, p = t.responsible_person || {};
  const field = (id, key, value, max) => HW.el('label', {for: id}, HW.t(key),
    HW.el('input', {type: 'text', id, maxlength: max, value: value || '', autocomplete: 'off'}));
  const f = HW.el('form', {id: 'assign-form', class: 'assign', novalidate: true},
    HW.el('h4', {}, HW.t('review.a.title', {code: t.code || t.id})),
    HW.el('div', {class: 'agrid'},
      field('a-unit-name', 'review.a.unit_name', u.name, PAGE.name_max),
      field('a-unit-contact', 'review.a.unit_contact', u.contact, PAGE.contact_max),
      field('a-person-name', 'review.a.person_name', p.name, PAGE.name_max),
      field('a-person-contact', 'review.a.person_contact', p.contact, PAGE.contact_max)),
    HW.el('label', {for: 'a-reason'}, HW.t('review.a.reason'),
      HW.el('textarea', {id: 'a-reason', rows: 2, maxlength: PAGE.note_max})),
    HW.el('p', {id: 'a-msg', class: 'err', role: 'alert'}),
    HW.el('div', {class: 'actions'},
      HW.el('button', {type: 'submit', class: 'primary', id: 'a-submit'},
            HW.t('review.a.submit')),
      HW.el('button', {type: 'button', onclick: () => f.remove()}, HW.t('review.cancel'))));
  f.addEventListener('submit', (ev) => { ev.preventDefault(); reassign(t); });
  $('assignee').after(f);
  $('a-unit-name').focus();
}
async function reassign(t) {
  const val = id => $(id).value.trim();
  const tell = (text) => { const m = $('a-msg'); if (m) m.textContent = text; else say(text); };
  const bad = (key, id) => { tell(HW.t(key)); $(id).focus(); };
  const unit = {name: val('a-unit-name'), contact: val('a-unit-contact') || null};
  const person = {name: val('a-person-name'), contact: val('a-person-contact') || null};
  const reason = val('a-reason');
  if (!unit.name) { bad('review.a.need_unit', 'a-unit-name'); return; }
  if (!person.name && person.contact) { bad('review.a.need_person', 'a-person-name'); return; }
  if (!reason) { bad('review.a.need_reason', 'a-reason'); return; }
  try {
    const updated = await HW.api('/tickets/' + encodeURIComponent(t.id) + '/assign', {
      method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({unit, person: person.name ? person : null, reason})});
    replace(updated);
    say(HW.t('review.a.done', {code: updated.code || updated.id,
      who: who(updated.responsible_unit, updated.responsible_person)}), true);
  } catch (err) {
    const lines = ((err.body && err.body.errors) || []).map(e => e.loc + ': ' + e.msg);
    tell(lines.length ? lines.join('\\n') : HW.t('common.error', {message: err.message}));
  }
}
function drawDetail(t) {
  HW.clear(detail).append(
    HW.el('h3', {}, HW.level(t.level), ' ', t.code || t.id, ' ', statusTag(t.status)),
    HW.el('div', {}, kindOf(t)),
    HW.el('div', {class: 'muted'}, HW.t('review.camera', {camera: t.camera_id, zone: t.zone}) +
      ' · ' + HW.t('review.found', {when: HW.when(t.created_at)}) +
      (t.deadline_at ? ' · ' + HW.t('review.deadline', {when: HW.when(t.deadline_at)}) : '')),
    links(t), assignee(t), player(t), pictures(t), actions(t), history(t), deliveries(t) || '');
}

// ----- moves -----
async function post(t, to, note) {
  return HW.api('/tickets/' + encodeURIComponent(t.id) + '/transition', {
    method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({to, note: note || null})});
}
function explain(err) {
  const allowed = err.body && err.body.allowed;
  return err.message + (allowed ? ' (' + allowed.join(', ') + ')' : '');
}
async function move(t, to, note) {
  if (!(t.allowed_transitions || []).includes(to)) {
    say(HW.t('review.not_allowed', {status: HW.label('status', t.status),
                                   target: HW.label('status', to)}));
    return false;
  }
  try {
    const updated = await post(t, to, note);
    replace(updated);
    say(HW.t('review.moved', {code: updated.code,
                              status: HW.label('status', updated.status)}), true);
    return true;
  } catch (err) { say(HW.t('common.error', {message: explain(err)})); return false; }
}
async function confirmCurrent() {
  const t = current(); if (!t) return;
  const note = $('note') ? $('note').value : '';
  if (await move(t, 'reported', note)) show(Math.min(ST.cur + 1, ST.items.length - 1), false);
}
function askReason(tickets, isBulk) {
  const blocked = tickets.filter(t => !(t.allowed_transitions || []).includes('rejected'));
  if (tickets.length === 1 && blocked.length) {
    const t = tickets[0];
    say(HW.t('review.not_allowed', {status: HW.label('status', t.status),
                                   target: HW.label('status', 'rejected')}));
    return;
  }
  ST.rejectFor = tickets; ST.rejectBulk = !!isBulk;
  $('reject-what').textContent = tickets.map(t => t.code || t.id).join(', ');
  $('reject-text').value = '';
  $('reject-form').hidden = false;
  $('reject-reason').focus();
}
function closeReason() { $('reject-form').hidden = true; ST.rejectFor = null; }
$('reject-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const tickets = ST.rejectFor || [], isBulk = ST.rejectBulk;
  const sel = $('reject-reason');
  const reason = sel.options[sel.selectedIndex].text;
  const extra = $('reject-text').value.trim();
  const note = extra ? reason + ': ' + extra : reason;
  closeReason();
  if (!isBulk) {
    if (await move(tickets[0], 'rejected', note)) show(Math.min(ST.cur + 1, ST.items.length - 1));
  } else await bulk(tickets, 'rejected', note);
});
$('reject-cancel').addEventListener('click', closeReason);
for (const r of PAGE.reasons) option($('reject-reason'), r, HW.t('review.reason.' + r));
async function bulk(tickets, to, note) {
  if (!tickets.length) { say(HW.t('review.bulk_none')); return; }
  let done = 0; const why = [];
  for (const t of tickets) {
    if (!(t.allowed_transitions || []).includes(to)) {
      why.push((t.code || t.id) + ': ' + HW.label('status', t.status)); continue;
    }
    try { replace(await post(t, to, note)); done += 1; }
    catch (err) { why.push((t.code || t.id) + ': ' + explain(err)); }
  }
  ST.selected.clear(); drawList();
  const text = HW.t('review.bulk_done', {done, status: HW.label('status', to),
                                        skipped: why.length, why: why.join('; ') || '—'});
  say(text, why.length === 0);
}
function selectedTickets() { return ST.items.filter(t => ST.selected.has(t.id)); }
$('bulk-confirm').addEventListener('click', () => bulk(selectedTickets(), 'reported', null));
$('bulk-reject').addEventListener('click', () => {
  const picked = selectedTickets();
  if (!picked.length) say(HW.t('review.bulk_none')); else askReason(picked, true);
});
$('select-all').addEventListener('change', (ev) => {
  ST.selected = new Set(ev.target.checked ? ST.items.map(t => t.id) : []);
  drawList();
});

// ----- keys -----
function typing(target) {
  return ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName) || target.isContentEditable;
}
document.addEventListener('keydown', (ev) => {
  if (!$('reject-form').hidden) {
    if (ev.key === 'Escape') { ev.preventDefault(); closeReason(); }
    return;  // Enter submits the form
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
  const ed = document.getElementById('editor');
  if (ed && !ed.hidden) return;  // the box editor has its own keys
  const video = $('clip');
  const t = current();
  switch (ev.key) {
    case 'j': show(ST.cur + 1, true); break;
    case 'k': show(ST.cur - 1, true); break;
    case 'c': if (!PAGE.public) confirmCurrent(); break;
    case 'r': if (!PAGE.public && t) askReason([t]); break;
    case 'x': if (!PAGE.public && t) toggle(t.id, !ST.selected.has(t.id)); break;
    case 'o': setOverlay(!ST.overlay); break;
    case ' ':
      if (!video) return;
      if (video.paused) video.play().catch(() => {}); else video.pause();
      break;
    case 'ArrowRight': case 'ArrowLeft':
      if (!video) return;
      video.pause();
      video.currentTime = Math.max(0, video.currentTime +
        (ev.key === 'ArrowRight' ? PAGE.frame_step_s : -PAGE.frame_step_s));
      break;
    case '?': say(HW.t('review.keys.text'), true); break;
    default: return;
  }
  ev.preventDefault();
});

buildFilters();
for (const id of ['f-status', 'f-kind', 'f-level', 'f-zone', 'f-since']) {
  $(id).addEventListener('change', () => load(true));
}
$('f-camera').addEventListener('change', () => { fillZones(); load(true); });
$('reload').addEventListener('click', () => load(true));
more.addEventListener('click', () => load(false));
load(true);
"""


def review_cameras(
    config: HazardwatchConfig, data_dir: Path, principal: Principal
) -> dict[str, dict[str, Any]]:
    """What the page draws over a camera's clip, for each camera ``principal`` may see: its
    current zones (an installer's override if any), its facade floor lines, its pre-roll (the
    hazard's onset into the clip). Never a source URL. The public sees no camera."""
    if principal.is_public:
        return {}
    cameras: dict[str, dict[str, Any]] = {}
    for camera_id in sorted(config.cameras):
        if not principal.sees_camera(camera_id):
            continue
        camera = config.cameras[camera_id]
        floors = camera.floors
        cameras[camera_id] = {
            "name": camera.name or camera_id,
            "preroll_s": camera.preroll_s,
            "zones": read_zones(config, data_dir, camera_id).zones,
            "floors": None if floors is None else floors.model_dump(mode="json"),
        }
    return cameras


def render_review(
    principal: Principal, nonce: str, cameras: dict[str, dict[str, Any]] | None = None
) -> str:
    """The review page; ``cameras`` is :func:`review_cameras` (the overlay's zones and floors).
    The public gets the closed items only, read-only."""
    annotate = principal.role in OFFICE_ROLES
    data: dict[str, Any] = {
        "public": principal.is_public,
        "annotate": annotate,
        "office": principal.role in OFFICE_ROLES,
        "statuses": [status.value for status in TicketStatus],
        "kinds": [kind.value for kind in HazardKind],
        "levels": list(LABELS["en"]["level"]),
        "cameras": cameras or {},
        "reasons": list(REJECT_REASONS),
        "frame_step_s": FRAME_STEP_S,
        "classes": [[name, CLASS_LABELS[name]] for name in ANNOTATION_CLASSES],
        # reassigning (POST /tickets/{id}/assign): who may, which tickets, the API's lengths
        "can_assign": principal.role in ASSIGN_ROLES,
        # the delivery log (GET /tickets/{id}/deliveries) is the office's and grid workers'
        "sees_deliveries": principal.role in FIELD_ROLES,
        "open_statuses": [status.value for status in TicketStatus if is_open(status)],
        "name_max": NAME_MAX,
        "contact_max": CONTACT_MAX,
        "note_max": MAX_NOTE_CHARS,
    }
    return layout(
        title="审核 Review",
        active="review",
        principal=principal,
        body=_STYLE + _BODY.replace("__EDITOR__", EDITOR_BODY if annotate else ""),
        script=_SCRIPT + (EDITOR_SCRIPT if annotate else ""),
        nonce=nonce,
        page_data=data,
        strings=STRINGS,
    )
