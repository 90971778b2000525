"""The box editor of the review page: reviewers draw and correct boxes on a ticket's frames.

Plain JS over a ``<canvas>`` laid on the frame picture, no build step. Pointer events, so a mouse,
a pen and a finger all work (``touch-action: none`` keeps a drag from scrolling the page):

- drag on empty picture: a new box of the chosen class;
- tap a box: select it (the smallest box under the pointer wins); drag it to move it, drag one
  of its corner handles to resize it; change its class with the class buttons; Delete (or the
  button) removes it;
- "no hazard object (negative)": the frame shows none of the classes (a false alarm's frame).

Frames: the snapshot, or the clip at the video's current time ("annotate this frame": the API
snaps the time to the frame shown, ``X-Frame-Time-Ms``). Saving PUTs every annotated frame of
the ticket (``/tickets/{id}/annotations``); the API's 422 message is shown as it is.
``/ui/review?annotate=TICKET`` opens the editor on that ticket.
"""

from __future__ import annotations

# Chinese first, English beside it (ARCHITECTURE.md §12), in vision.annotations' class order.
CLASS_LABELS = {
    "ebike": "电动车 E-bike",
    "vehicle": "车辆 Vehicle",
    "person": "行人 Person",
    "clutter": "堆物 Clutter",
    "bicycle": "自行车 Bicycle",
}

EDITOR_BODY = """
<div id="editor" class="card" hidden>
<h2 id="ed-title">标注 Annotate</h2>
<p class="muted">拖动画框；点选框后可移动、拖角调整大小、改类别或删除。
没有隐患目标的帧请标记为“无隐患目标”。
Drag to draw a box; tap a box to select it, then move it, drag a corner to resize, change its
class or delete it. Mark a frame that shows no hazard object as negative.</p>
<div class="media" id="ed-sources"></div>
<div id="ed-frames" style="margin:.4rem 0"></div>
<div id="ed-classes" style="margin:.4rem 0"></div>
<div style="margin:.4rem 0">
<label><input type="checkbox" id="ed-negative">
无隐患目标（负样本） No hazard object (negative)</label>
<button id="ed-delete" disabled>删除框 Delete box</button>
<button id="ed-drop">移除此帧 Remove frame</button>
<button id="ed-save" class="primary">保存 Save</button>
<button id="ed-close">关闭 Close</button>
</div>
<p id="ed-msg"></p>
<div id="ed-stage" style="position:relative;line-height:0;max-width:960px">
<img id="ed-img" alt="" style="width:100%;display:block;background:#555">
<canvas id="ed-canvas" style="position:absolute;left:0;top:0;width:100%;height:100%;
touch-action:none;cursor:crosshair"></canvas></div>
</div>
"""

EDITOR_SCRIPT = """
const ED = {
  el: document.getElementById('editor'),
  img: document.getElementById('ed-img'),
  canvas: document.getElementById('ed-canvas'),
  msg: document.getElementById('ed-msg'),
  negative: document.getElementById('ed-negative'),
  ticket: null, frames: [], current: -1, selected: -1, cls: PAGE.classes[0][0],
  drag: null, dirty: false,
};
const ED_COLORS = {ebike: '#e63946', vehicle: '#f4a261', person: '#2a9d8f', clutter: '#9b5de5',
                   bicycle: '#457b9d'};
const ED_MIN = 0.004;  // smallest box side kept, as a fraction of the frame

function edSay(text, ok) { ED.msg.className = ok ? 'ok' : 'err'; ED.msg.textContent = text; }
function edFrameKey(f) { return f.source === 'clip' ? 'clip@' + f.t_ms : 'snapshot'; }
function edFrame() { return ED.current >= 0 ? ED.frames[ED.current] : null; }
function edClamp(v) { return Math.min(1, Math.max(0, v)); }
function edR(v) { return Math.round(v * 1e6) / 1e6; }

function edClassButtons() {
  const box = HW.clear(document.getElementById('ed-classes'));
  box.append(HW.el('span', {class: 'muted'}, '类别 Class: '));
  for (const [name, text] of PAGE.classes) {
    const b = HW.el('button', {style: 'margin:.15rem;border-left:6px solid ' + ED_COLORS[name],
      class: name === ED.cls ? 'primary' : '', onclick: () => {
        ED.cls = name;
        const f = edFrame();
        if (f && ED.selected >= 0) { f.boxes[ED.selected].class = name; ED.dirty = true; }
        edClassButtons(); edDraw();
      }}, text);
    box.append(b);
  }
}

function edFrameButtons() {
  const box = HW.clear(document.getElementById('ed-frames'));
  box.append(HW.el('span', {class: 'muted'}, '已标注帧 Frames: '));
  ED.frames.forEach((f, i) => {
    const n = f.negative ? '∅' : String(f.boxes.length);
    const label = (f.frame.source === 'clip' ? f.frame.t_ms + ' ms' : '快照 snapshot') +
      ' (' + n + ')';
    box.append(HW.el('button', {style: 'margin:.15rem', class: i === ED.current ? 'primary' : '',
      onclick: () => edShow(i)}, label));
  });
  if (!ED.frames.length) box.append(HW.el('span', {class: 'muted'}, '无 none'));
}

function edUrl(frame) {
  const base = '/tickets/' + encodeURIComponent(ED.ticket.id);
  return frame.source === 'clip' ? base + '/frames/' + frame.t_ms + '.jpg'
                                 : base + '/snapshot.jpg';
}

function edShow(i) {
  ED.current = i; ED.selected = -1;
  const f = edFrame();
  document.getElementById('ed-stage').hidden = !f;
  if (f) { ED.img.src = edUrl(f.frame); ED.negative.checked = !!f.negative; }
  edFrameButtons(); edUpdateButtons(); edDraw();
}

function edAddFrame(frame) {
  const key = edFrameKey(frame);
  const found = ED.frames.findIndex(f => edFrameKey(f.frame) === key);
  if (found >= 0) { edShow(found); return; }
  ED.frames.push({frame, boxes: [], negative: false});
  edShow(ED.frames.length - 1);
}

async function edClipFrame(video) {
  const t = Math.max(0, Math.round(video.currentTime * 1000));
  try {
    const r = await fetch('/tickets/' + encodeURIComponent(ED.ticket.id) + '/frames/' + t + '.jpg',
      {method: 'HEAD', credentials: 'same-origin'});
    if (!r.ok) throw new Error('HTTP ' + r.status);
    edAddFrame({source: 'clip', t_ms: parseInt(r.headers.get('X-Frame-Time-Ms') || t, 10)});
  } catch (err) { edSay('取帧失败 Could not get the frame: ' + err.message); }
}

function edSources(t) {
  const box = HW.clear(document.getElementById('ed-sources'));
  const base = '/tickets/' + encodeURIComponent(t.id);
  if (ED.info.has_clip) {
    const video = HW.el('video', {src: base + '/clip.mp4', controls: true, preload: 'metadata'});
    box.append(HW.el('figure', {}, video, HW.el('figcaption', {},
      HW.el('button', {onclick: () => edClipFrame(video)}, '标注当前帧 Annotate this frame'))));
  }
  if (ED.info.has_snapshot) {
    box.append(HW.el('figure', {},
      HW.el('img', {src: base + '/snapshot.jpg', alt: 'snapshot'}),
      HW.el('figcaption', {}, HW.el('button', {onclick: () => edAddFrame({source: 'snapshot'})},
        '标注快照 Annotate the snapshot'),
        HW.el('span', {class: 'muted'}, ' (含检测框叠加 has drawn overlays)'))));
  }
}

async function openEditor(t) {
  if (ED.dirty && !confirm('放弃未保存的标注？ Discard unsaved boxes?')) return;
  ED.ticket = t; ED.dirty = false; edSay('');
  document.getElementById('ed-title').textContent = '标注 Annotate · ' + (t.code || t.id);
  try {
    ED.info = await HW.api('/tickets/' + encodeURIComponent(t.id) + '/annotations');
  } catch (err) { edSay(err.message); return; }
  ED.frames = ED.info.frames.map(f => ({frame: f.frame, negative: f.negative,
    boxes: f.boxes.map(b => ({class: b.class, xyxy: b.xyxy.slice()}))}));
  ED.el.hidden = false;
  edSources(t); edClassButtons(); edShow(ED.frames.length ? 0 : -1);
  ED.el.scrollIntoView({behavior: 'smooth'});
}

function edUpdateButtons() {
  const f = edFrame();
  document.getElementById('ed-delete').disabled = !(f && ED.selected >= 0);
  document.getElementById('ed-drop').disabled = !f;
  ED.negative.disabled = !f;
}

function edSize() {
  const r = ED.canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  ED.canvas.width = Math.max(1, Math.round(r.width * dpr));
  ED.canvas.height = Math.max(1, Math.round(r.height * dpr));
}

function edDraw() {
  edSize();
  const ctx = ED.canvas.getContext('2d');
  const W = ED.canvas.width, H = ED.canvas.height;
  ctx.clearRect(0, 0, W, H);
  const f = edFrame();
  if (!f) return;
  const lw = Math.max(2, Math.round(W / 400));
  f.boxes.forEach((b, i) => {
    const [x1, y1, x2, y2] = b.xyxy;
    ctx.strokeStyle = ED_COLORS[b.class] || '#fff';
    ctx.lineWidth = i === ED.selected ? lw * 2 : lw;
    ctx.strokeRect(x1 * W, y1 * H, (x2 - x1) * W, (y2 - y1) * H);
    ctx.fillStyle = ED_COLORS[b.class] || '#fff';
    ctx.font = Math.max(12, Math.round(H / 30)) + 'px sans-serif';
    const label = (PAGE.classes.find(c => c[0] === b.class) || [b.class, b.class])[1];
    const tw = ctx.measureText(label).width + 8, th = Math.max(14, Math.round(H / 28));
    ctx.fillRect(x1 * W, Math.max(0, y1 * H - th), tw, th);
    ctx.fillStyle = '#fff';
    ctx.fillText(label, x1 * W + 4, Math.max(th, y1 * H) - 4);
    if (i === ED.selected) {
      const s = Math.max(8, Math.round(W / 80));
      for (const [cx, cy] of [[x1, y1], [x2, y1], [x1, y2], [x2, y2]]) {
        ctx.fillStyle = '#fff'; ctx.fillRect(cx * W - s / 2, cy * H - s / 2, s, s);
        ctx.strokeStyle = '#000'; ctx.lineWidth = 1;
        ctx.strokeRect(cx * W - s / 2, cy * H - s / 2, s, s);
      }
    }
  });
  if (ED.drag && ED.drag.kind === 'new') {
    const [x1, y1, x2, y2] = edNorm(ED.drag.start, ED.drag.now);
    ctx.setLineDash([6, 4]); ctx.strokeStyle = ED_COLORS[ED.cls]; ctx.lineWidth = lw;
    ctx.strokeRect(x1 * W, y1 * H, (x2 - x1) * W, (y2 - y1) * H); ctx.setLineDash([]);
  }
  if (f.negative) {
    ctx.fillStyle = '#0008'; ctx.fillRect(0, 0, W, Math.round(H / 12));
    ctx.fillStyle = '#fff'; ctx.font = Math.round(H / 20) + 'px sans-serif';
    ctx.fillText('无隐患目标 No hazard object (negative)', 10, Math.round(H / 16));
  }
}

function edNorm(a, b) {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
}

function edPoint(ev) {
  const r = ED.canvas.getBoundingClientRect();
  return [edClamp((ev.clientX - r.left) / r.width), edClamp((ev.clientY - r.top) / r.height)];
}

function edHit(f, p) {
  // A corner handle of the selected box first, then the smallest box under the point.
  const r = ED.canvas.getBoundingClientRect();
  const tol = 12 / Math.max(1, r.width), tolY = 12 / Math.max(1, r.height);
  if (ED.selected >= 0) {
    const [x1, y1, x2, y2] = f.boxes[ED.selected].xyxy;
    const corners = [[x1, y1, 0, 1], [x2, y1, 2, 1], [x1, y2, 0, 3], [x2, y2, 2, 3]];
    for (const [cx, cy, ix, iy] of corners) {
      if (Math.abs(p[0] - cx) <= tol && Math.abs(p[1] - cy) <= tolY) {
        return {kind: 'corner', index: ED.selected, ix, iy};
      }
    }
  }
  let best = -1, area = 2;
  f.boxes.forEach((b, i) => {
    const [x1, y1, x2, y2] = b.xyxy;
    if (p[0] >= x1 && p[0] <= x2 && p[1] >= y1 && p[1] <= y2 && (x2 - x1) * (y2 - y1) < area) {
      best = i; area = (x2 - x1) * (y2 - y1);
    }
  });
  return best >= 0 ? {kind: 'move', index: best} : null;
}

ED.canvas.addEventListener('pointerdown', ev => {
  const f = edFrame();
  if (!f) return;
  ev.preventDefault();
  ED.canvas.setPointerCapture(ev.pointerId);
  const p = edPoint(ev);
  const hit = edHit(f, p);
  if (hit) {
    ED.selected = hit.index;
    ED.cls = f.boxes[hit.index].class;
    ED.drag = {kind: hit.kind, start: p, now: p, ix: hit.ix, iy: hit.iy,
               orig: f.boxes[hit.index].xyxy.slice()};
    edClassButtons();
  } else {
    ED.selected = -1;
    ED.drag = {kind: 'new', start: p, now: p};
  }
  edUpdateButtons(); edDraw();
});

ED.canvas.addEventListener('pointermove', ev => {
  const f = edFrame();
  if (!f || !ED.drag) return;
  ev.preventDefault();
  ED.drag.now = edPoint(ev);
  const d = ED.drag;
  if (d.kind === 'move') {
    const [x1, y1, x2, y2] = d.orig;
    const dx = Math.min(1 - x2, Math.max(-x1, d.now[0] - d.start[0]));
    const dy = Math.min(1 - y2, Math.max(-y1, d.now[1] - d.start[1]));
    f.boxes[ED.selected].xyxy = [x1 + dx, y1 + dy, x2 + dx, y2 + dy];
    ED.dirty = true;
  } else if (d.kind === 'corner') {
    const xyxy = d.orig.slice();
    xyxy[d.ix] = d.now[0]; xyxy[d.iy] = d.now[1];
    f.boxes[ED.selected].xyxy = edNorm([xyxy[0], xyxy[1]], [xyxy[2], xyxy[3]]);
    ED.dirty = true;
  }
  edDraw();
});

function edEndDrag(ev) {
  const f = edFrame();
  const d = ED.drag;
  ED.drag = null;
  if (!f || !d) return;
  if (d.kind === 'new') {
    const xyxy = edNorm(d.start, d.now);
    if (xyxy[2] - xyxy[0] >= ED_MIN && xyxy[3] - xyxy[1] >= ED_MIN) {
      f.boxes.push({class: ED.cls, xyxy});
      ED.selected = f.boxes.length - 1;
      f.negative = false; ED.negative.checked = false;
      ED.dirty = true;
    }
  } else if (ED.selected >= 0) {
    const b = f.boxes[ED.selected];
    if (b.xyxy[2] - b.xyxy[0] < ED_MIN || b.xyxy[3] - b.xyxy[1] < ED_MIN) b.xyxy = d.orig;
  }
  edFrameButtons(); edUpdateButtons(); edDraw();
}
ED.canvas.addEventListener('pointerup', edEndDrag);
ED.canvas.addEventListener('pointercancel', edEndDrag);

function edDeleteBox() {
  const f = edFrame();
  if (!f || ED.selected < 0) return;
  f.boxes.splice(ED.selected, 1);
  ED.selected = -1; ED.dirty = true;
  edFrameButtons(); edUpdateButtons(); edDraw();
}
document.getElementById('ed-delete').addEventListener('click', edDeleteBox);
document.addEventListener('keydown', ev => {
  if (ED.el.hidden || ['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement.tagName)) {
    return;
  }
  if (ev.key === 'Delete' || ev.key === 'Backspace') { ev.preventDefault(); edDeleteBox(); }
});
ED.negative.addEventListener('change', () => {
  const f = edFrame();
  if (!f) return;
  if (ED.negative.checked && f.boxes.length &&
      !confirm('删除此帧的所有框？ Remove every box of this frame?')) {
    ED.negative.checked = false; return;
  }
  f.negative = ED.negative.checked;
  if (f.negative) { f.boxes = []; ED.selected = -1; }
  ED.dirty = true;
  edFrameButtons(); edUpdateButtons(); edDraw();
});
document.getElementById('ed-drop').addEventListener('click', () => {
  if (ED.current < 0) return;
  ED.frames.splice(ED.current, 1); ED.dirty = true;
  edShow(ED.frames.length ? 0 : -1);
});
document.getElementById('ed-close').addEventListener('click', () => {
  if (ED.dirty && !confirm('放弃未保存的标注？ Discard unsaved boxes?')) return;
  ED.dirty = false; ED.el.hidden = true;
});
document.getElementById('ed-save').addEventListener('click', async ev => {
  ev.target.disabled = true;
  const frames = ED.frames.map(f => ({frame: f.frame, negative: !!f.negative,
    boxes: f.boxes.map(b => ({class: b.class, xyxy: b.xyxy.map(edR)}))}));
  try {
    const saved = await HW.api('/tickets/' + encodeURIComponent(ED.ticket.id) + '/annotations', {
      method: 'PUT', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({frames})});
    ED.info = saved; ED.dirty = false;
    const key = edFrame() ? edFrameKey(edFrame().frame) : null;
    ED.frames = saved.frames.map(f => ({frame: f.frame, negative: f.negative,
      boxes: f.boxes.map(b => ({class: b.class, xyxy: b.xyxy.slice()}))}));
    const again = ED.frames.findIndex(f => edFrameKey(f.frame) === key);
    edShow(again >= 0 ? again : (ED.frames.length ? 0 : -1));
    edSay('已保存 Saved: ' + saved.frames.length + ' 帧 frames' +
      (saved.sidecar_error ? ' (sidecar: ' + saved.sidecar_error + ')' : ''), true);
  } catch (err) {
    edSay(err.message);
  } finally { ev.target.disabled = false; }
});
// /ui/review?annotate=TICKET opens the editor on that ticket (a link from elsewhere).
(async () => {
  const wanted = new URLSearchParams(location.search).get('annotate');
  if (!wanted) return;
  try {
    openEditor(await HW.api('/tickets/' + encodeURIComponent(wanted)));
  } catch (err) { edSay(err.message); ED.el.hidden = false; }
})();
ED.img.addEventListener('load', edDraw);
ED.img.addEventListener('error', () => edSay('图片不可用 The picture is not available'));
window.addEventListener('resize', edDraw);
"""
