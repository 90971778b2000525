// Drives the review page's box editor in a headless Chromium over the DevTools protocol, with
// real input events (mouse and touch), for tests/api/test_review_editor_browser.py.
//
// node review_editor_cdp.js DEVTOOLS_PORT BASE_URL TICKET_ID TOKEN
// Steps (positions are fractions of the frame):
//   1. class "clutter", mouse drag (0.05, 0.10) -> (0.25, 0.40): a new box;
//   2. class button "vehicle": the new (selected) box becomes a vehicle;
//   3. touch drag from inside the existing person box by (+0.05, +0.30): the box moves;
//   4. touch drag on empty picture (0.02, 0.55) -> (0.20, 0.90): a new box, then the Delete key
//      removes it again;
//   5. "annotate the snapshot", tick "no hazard object": a negative frame; Save.
// Prints the editor's message on the last line as JSON: {"message": "..."}.
'use strict';
const [port, base, ticket, token] = process.argv.slice(2);
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function main() {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const page = targets.find(t => t.type === 'page');
  if (!page) throw new Error('no page target in the browser');
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve); ws.addEventListener('error', reject);
  });
  let next = 0;
  const waiting = new Map();
  ws.addEventListener('message', ev => {
    const msg = JSON.parse(ev.data);
    if (msg.id && waiting.has(msg.id)) { waiting.get(msg.id)(msg); waiting.delete(msg.id); }
  });
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = ++next;
    waiting.set(id, msg => msg.error ? reject(new Error(method + ': ' + msg.error.message))
                                     : resolve(msg.result));
    ws.send(JSON.stringify({id, method, params}));
  });
  const value = async expression => {
    const out = await send('Runtime.evaluate', {expression, returnByValue: true});
    if (out.exceptionDetails) throw new Error('evaluate failed: ' + expression);
    return out.result.value;
  };
  const waitFor = async (expression, what, ms = 15000) => {
    const until = Date.now() + ms;
    while (!(await value(expression))) {
      if (Date.now() > until) throw new Error('timed out waiting for ' + what);
      await sleep(100);
    }
  };
  const rect = async js => value(`(() => { const e = ${js}; e.scrollIntoView({block: 'center'});
    const r = e.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`);
  const button = text => `document.evaluate(${JSON.stringify(`//button[contains(., '${text}')]`)},
    document, null, 9, null).singleNodeValue`;
  const mouse = async (type, x, y, buttons) => send('Input.dispatchMouseEvent',
    {type, x, y, button: 'left', buttons, clickCount: 1});
  const click = async js => {
    const [x, y, w, h] = await rect(js);
    await mouse('mousePressed', x + w / 2, y + h / 2, 1);
    await mouse('mouseReleased', x + w / 2, y + h / 2, 0);
  };
  const frame = async () => {
    const [x, y, w, h] = await rect("document.getElementById('ed-canvas')");
    return (fx, fy) => [x + fx * w, y + fy * h];
  };
  const touch = async (from, to) => {
    await send('Input.dispatchTouchEvent', {type: 'touchStart', touchPoints: [{x: from[0], y: from[1]}]});
    for (let i = 1; i <= 6; i++) {
      const p = {x: from[0] + (to[0] - from[0]) * i / 6, y: from[1] + (to[1] - from[1]) * i / 6};
      await send('Input.dispatchTouchEvent', {type: 'touchMove', touchPoints: [p]});
    }
    await send('Input.dispatchTouchEvent', {type: 'touchEnd', touchPoints: []});
  };

  await send('Page.enable');
  await send('Runtime.enable');
  await send('Emulation.setDeviceMetricsOverride',
             {width: 1200, height: 1500, deviceScaleFactor: 1, mobile: false});
  await send('Page.navigate', {url: `${base}/ui/review?token=${token}&annotate=${ticket}`});
  await waitFor("typeof ED !== 'undefined' && !ED.el.hidden && ED.current === 0 && " +
                "ED.img.complete && ED.img.naturalWidth > 0", 'the editor on the first frame');

  await click(button('堆物 Clutter'));
  let at = await frame();
  const [ax, ay] = at(0.05, 0.10), [bx, by] = at(0.25, 0.40);
  await mouse('mousePressed', ax, ay, 1);
  for (let i = 1; i <= 6; i++) {
    await mouse('mouseMoved', ax + (bx - ax) * i / 6, ay + (by - ay) * i / 6, 1);
  }
  await mouse('mouseReleased', bx, by, 0);
  await click(button('车辆 Vehicle'));

  await send('Emulation.setTouchEmulationEnabled', {enabled: true, maxTouchPoints: 1});
  at = await frame();
  await touch(at(0.70, 0.20), at(0.75, 0.50));
  at = await frame();
  await touch(at(0.02, 0.55), at(0.20, 0.90));
  await send('Emulation.setTouchEmulationEnabled', {enabled: false});
  await waitFor('ED.frames[0].boxes.length === 3 && ED.selected === 2', 'the touch-drawn box');
  await send('Input.dispatchKeyEvent', {type: 'keyDown', key: 'Delete', code: 'Delete',
                                        windowsVirtualKeyCode: 46});
  await send('Input.dispatchKeyEvent', {type: 'keyUp', key: 'Delete', code: 'Delete',
                                        windowsVirtualKeyCode: 46});

  await click(button('标注快照'));
  await waitFor("ED.current === 1 && ED.img.complete", 'the snapshot frame');
  await click("document.getElementById('ed-negative')");
  await click("document.getElementById('ed-save')");
  await waitFor("document.getElementById('ed-msg').textContent !== ''", 'the save');
  const message = await value("document.getElementById('ed-msg').textContent");
  console.log(JSON.stringify({message}));
  ws.close();
}

main().then(() => process.exit(0), err => { console.error(String(err && err.stack || err)); process.exit(1); });
