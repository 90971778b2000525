"""``/ui/dispatch``: the dispatch rules (派单规则), who a new ticket goes to.

A rule maps a camera, or one zone of a camera, to a responsible unit (责任单位) and, optionally, a
responsible person (责任人), each a name and a contact; the default rule covers the cameras and
zones no rule names. A zone's rule wins over its camera's, which wins over the default
(:mod:`api.settings.dispatch`). The page reads the mapping in force with ``GET /dispatch``,
lets the admin add, edit and delete rules in the page, and saves all of them in one
``PUT /dispatch``, which the API validates like ``check-config``; each problem it answers is shown
on the rule (and the field) it names. The camera and zone pickers list the cameras ``GET /cameras``
gives and each camera's zones in force (``GET /cameras/{id}/zones``, the zone editor's if any).

Both API calls are admin-only, so the page is too: anyone else gets a 403 page saying so, and the
navigation shows the link to admins only. On a phone the table's rows become stacked cards.
"""

from __future__ import annotations

from api.auth import Principal
from api.pages.common import layout
from api.pages.i18n import page_strings
from api.settings.dispatch import Contact


def _max_length(field: str) -> int:
    """The longest text a responsible unit's or person's ``field`` may hold (the API's own)."""
    for rule in Contact.model_fields[field].metadata:
        length = getattr(rule, "max_length", None)
        if isinstance(length, int):
            return length
    raise LookupError(f"Contact.{field} declares no max_length")


# Longest names and contacts the API takes, for the forms' maxlength (here and in the review
# page's reassignment form).
NAME_MAX = _max_length("name")
CONTACT_MAX = _max_length("contact")

STRINGS = page_strings(
    "dispatch",
    zh={
        "page.title": "派单规则",
        "dispatch.title": "派单规则",
        "dispatch.help": "新工单按规则自动派给责任单位和责任人：区域的规则优先于摄像头的规则，"
        "摄像头的规则优先于默认规则。没有规则的工单暂不派单，可在审核页改派。",
        "dispatch.col.where": "摄像头 / 区域",
        "dispatch.col.unit": "责任单位",
        "dispatch.col.person": "责任人",
        "dispatch.col.actions": "操作",
        "dispatch.whole_camera": "整个摄像头",
        "dispatch.default": "默认（其他摄像头和区域）",
        "dispatch.no_rules": "还没有派单规则：新工单不会自动派单。",
        "dispatch.add": "新增规则",
        "dispatch.edit": "编辑",
        "dispatch.delete": "删除",
        "dispatch.save": "保存",
        "dispatch.new_rule": "新增规则",
        "dispatch.edit_rule": "编辑规则：{where}",
        "dispatch.camera": "摄像头",
        "dispatch.zone": "区域",
        "dispatch.unit": "责任单位",
        "dispatch.person": "责任人（可选）",
        "dispatch.name": "名称",
        "dispatch.person_name": "姓名",
        "dispatch.contact": "联系方式",
        "dispatch.contact_hint": "电话、邮箱或微信号（居民看不到）",
        "dispatch.apply": "确定",
        "dispatch.cancel": "取消",
        "dispatch.need_unit": "请填写责任单位名称",
        "dispatch.need_person": "填写了责任人联系方式，也请填写姓名",
        "dispatch.exists": "{where} 已有规则：请编辑那一条",
        "dispatch.unsaved": "有未保存的修改：点“保存”后生效",
        "dispatch.saved": "已保存（{when}）：之后的新工单按新规则派单",
        "dispatch.not_saved": "未保存：{n} 处问题，已标在对应的规则旁",
        "dispatch.from_config": "当前规则来自配置文件",
        "dispatch.edited_by": "{by} 编辑于 {when}",
        "dispatch.load_failed": "读取失败：{error}",
        "dispatch.zones_failed": "读取 {camera} 的区域失败：{error}",
        "dispatch.only_admins": "只有管理员可以查看和编辑派单规则。",
    },
    en={
        "page.title": "Dispatch rules",
        "dispatch.title": "Dispatch rules",
        "dispatch.help": "New tickets are assigned to a responsible unit and person by these "
        "rules: a zone's rule wins over its camera's, which wins over the default. A ticket no "
        "rule covers stays unassigned until someone reassigns it on the review page.",
        "dispatch.col.where": "Camera / zone",
        "dispatch.col.unit": "Responsible unit",
        "dispatch.col.person": "Responsible person",
        "dispatch.col.actions": "Actions",
        "dispatch.whole_camera": "whole camera",
        "dispatch.default": "Default (other cameras and zones)",
        "dispatch.no_rules": "No dispatch rule yet: new tickets are not assigned.",
        "dispatch.add": "Add a rule",
        "dispatch.edit": "Edit",
        "dispatch.delete": "Delete",
        "dispatch.save": "Save",
        "dispatch.new_rule": "New rule",
        "dispatch.edit_rule": "Edit the rule of {where}",
        "dispatch.camera": "Camera",
        "dispatch.zone": "Zone",
        "dispatch.unit": "Responsible unit",
        "dispatch.person": "Responsible person (optional)",
        "dispatch.name": "Name",
        "dispatch.person_name": "Name",
        "dispatch.contact": "Contact",
        "dispatch.contact_hint": "phone, e-mail or chat id (residents never see it)",
        "dispatch.apply": "OK",
        "dispatch.cancel": "Cancel",
        "dispatch.need_unit": "Give the responsible unit's name",
        "dispatch.need_person": "A contact for the responsible person needs the person's name",
        "dispatch.exists": "{where} has a rule already: edit that one",
        "dispatch.unsaved": "Changes not saved yet: press Save",
        "dispatch.saved": "Saved ({when}): new tickets are assigned by these rules",
        "dispatch.not_saved": "Not saved: {n} problem(s), shown beside their rules",
        "dispatch.from_config": "These rules come from the config file",
        "dispatch.edited_by": "edited by {by}, {when}",
        "dispatch.load_failed": "Could not load: {error}",
        "dispatch.zones_failed": "Could not load the zones of {camera}: {error}",
        "dispatch.only_admins": "Only admins can see and edit the dispatch rules.",
    },
)

_BODY = """
<div class="card"><h2 data-i18n="dispatch.title"></h2>
<p class="muted" data-i18n="dispatch.help"></p>
<p id="source" class="muted"></p>
<table id="rules"><thead><tr><th data-i18n="dispatch.col.where"></th>
<th data-i18n="dispatch.col.unit"></th><th data-i18n="dispatch.col.person"></th>
<th data-i18n="dispatch.col.actions"></th></tr></thead><tbody id="rows"></tbody></table>
<div class="drow"><button type="button" id="add" data-i18n="dispatch.add"></button>
<button type="button" id="save" class="primary" data-i18n="dispatch.save"></button></div>
<p id="msg" role="status"></p></div>
<form id="rule-form" class="card" hidden novalidate>
<h3 id="form-title"></h3>
<div class="fgrid">
<label><span data-i18n="dispatch.camera"></span><select id="r-camera"></select></label>
<label><span data-i18n="dispatch.zone"></span><select id="r-zone"></select></label>
</div>
<fieldset><legend data-i18n="dispatch.unit"></legend><div class="fgrid">
<label><span data-i18n="dispatch.name"></span><input id="r-unit-name" maxlength="__NAME__"
 autocomplete="off"></label>
<label><span data-i18n="dispatch.contact"></span><input id="r-unit-contact"
 maxlength="__CONTACT__" autocomplete="off" data-i18n-placeholder="dispatch.contact_hint"></label>
</div></fieldset>
<fieldset><legend data-i18n="dispatch.person"></legend><div class="fgrid">
<label><span data-i18n="dispatch.person_name"></span><input id="r-person-name"
 maxlength="__NAME__" autocomplete="off"></label>
<label><span data-i18n="dispatch.contact"></span><input id="r-person-contact"
 maxlength="__CONTACT__" autocomplete="off" data-i18n-placeholder="dispatch.contact_hint"></label>
</div></fieldset>
<p id="form-msg" class="err" role="alert"></p>
<div class="drow"><button type="submit" class="primary" id="r-apply"
 data-i18n="dispatch.apply"></button>
<button type="button" id="r-cancel" data-i18n="dispatch.cancel"></button></div>
</form>
<style>
#rules{width:100%}#rules td{vertical-align:top}
.drow{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:.6rem 0 0}
.fgrid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(16rem,100%),1fr));
gap:.4rem .8rem}.fgrid label{display:flex;flex-direction:column;margin:0;font-size:.9rem}
.fgrid input,.fgrid select{width:100%}
fieldset{border:1px solid #d0d7de;border-radius:4px;margin:.6rem 0 0;min-width:0}
.ferr{display:block;color:#b00020;font-size:.85rem;white-space:pre-wrap}
td.bad{background:#fdecee}.acts{display:flex;flex-wrap:wrap;gap:.3rem}
@media (max-width:600px){
#rules,#rules tbody,#rules tr,#rules td{display:block;width:100%}#rules thead{display:none}
#rules tr{border:1px solid #d0d7de;border-radius:4px;margin:0 0 .5rem;padding:.2rem}
#rules td{border:none;padding:.2rem .3rem}
#rules td[data-label]::before{content:attr(data-label);display:block;color:#6b7785;
font-size:.8rem}}
</style>
""".replace("__NAME__", str(NAME_MAX)).replace("__CONTACT__", str(CONTACT_MAX))

_SCRIPT = """
const t = (key, vars) => HW.t(key, vars);
const $ = id => document.getElementById(id);
const rowsBox = $('rows'), msg = $('msg'), form = $('rule-form');
const DEFAULT = '*';  // the camera picker's value of the default rule (never a camera id)
// rules: [{key, unit: {name, contact}, person: {name, contact} | null}]; key DEFAULT: the default
let rules = [], cameras = [], editing = null, problems = {}, dirty = false;
const zonesOf = {};  // camera id -> zone ids (GET /cameras/{id}/zones), loaded when picked

function say(text, ok) { msg.className = ok ? 'ok' : 'err'; msg.textContent = text || ''; }
function cameraName(id) {
  const c = cameras.find(x => x.id === id);
  return c && c.name ? c.name : '';
}
function keyOf(camera, zone) { return camera === DEFAULT ? DEFAULT : (zone ? camera + '/' + zone
                                                                          : camera); }
function where(key) {
  if (key === DEFAULT) return t('dispatch.default');
  const [camera, zone] = key.split('/');
  return camera + ' / ' + (zone || t('dispatch.whole_camera'));
}
function ordered() {  // cameras and their zones in order, the default last
  return rules.slice().sort((a, b) => (a.key === DEFAULT) - (b.key === DEFAULT) ||
                                      a.key.localeCompare(b.key));
}

// ----- the API's answer <-> the rules ---------------------------------------------------------

function fromApi(dispatch) {
  const out = Object.entries(dispatch.cameras || {}).map(([key, a]) => (
    {key, unit: a.unit, person: a.person || null}));
  if (dispatch.default) {
    out.push({key: DEFAULT, unit: dispatch.default.unit, person: dispatch.default.person || null});
  }
  return out;
}
function toApi() {
  const body = {cameras: {}, default: null};
  for (const r of rules) {
    const a = {unit: r.unit, person: r.person};
    if (r.key === DEFAULT) body.default = a; else body.cameras[r.key] = a;
  }
  return body;
}
function showSource(data) {
  $('source').textContent = data.source === 'override'
    ? t('dispatch.edited_by', {by: data.by, when: HW.when(data.updated_at)})
    : t('dispatch.from_config');
}

// An error's location, 'api.dispatch.cameras.KEY.unit.name' (409) or 'body.cameras.KEY...'
// (422) or '...default.person', as [rule key, field]; null when it names no rule.
const LOC = new RegExp('^(?:api\\\\.dispatch\\\\.|body\\\\.)' +
  '(?:cameras\\\\.("(?:[^"\\\\\\\\]|\\\\\\\\.)*"|[^.]+)|(default))(?:\\\\.(.*))?$');
function locate(loc) {
  const m = LOC.exec(loc || '');
  if (!m) return null;
  const key = m[2] ? DEFAULT : (m[1].startsWith('"') ? JSON.parse(m[1]) : m[1]);
  return [key, m[3] || ''];
}

// ----- the table --------------------------------------------------------------------------------

function contactCell(label, contact, field, key) {
  const errs = (problems[key] || []).filter(p => p.field.startsWith(field));
  const td = HW.el('td', {'data-label': label, 'data-field': field,
                          class: errs.length ? 'bad' : null});
  if (contact) {
    td.append(HW.el('div', {}, contact.name));
    if (contact.contact) td.append(HW.el('div', {class: 'muted'}, contact.contact));
  } else td.append(HW.el('span', {class: 'muted'}, t('common.none')));
  for (const p of errs) td.append(HW.el('span', {class: 'ferr'}, p.text));
  return td;
}
function drawRules() {
  HW.clear(rowsBox);
  if (!rules.length) {
    rowsBox.append(HW.el('tr', {}, HW.el('td', {colspan: 4, class: 'muted'},
                                         t('dispatch.no_rules'))));
  }
  for (const r of ordered()) {
    const keyErrs = (problems[r.key] || []).filter(p => !p.field.startsWith('unit') &&
                                                        !p.field.startsWith('person'));
    const name = r.key === DEFAULT ? '' : cameraName(r.key.split('/')[0]);
    const whereCell = HW.el('td', {'data-label': t('dispatch.col.where'), 'data-field': 'key',
                                   class: keyErrs.length ? 'bad' : null},
      HW.el('div', {}, where(r.key)), name ? HW.el('div', {class: 'muted'}, name) : null,
      ...keyErrs.map(p => HW.el('span', {class: 'ferr'}, p.text)));
    const acts = HW.el('div', {class: 'acts'},
      HW.el('button', {type: 'button', class: 'edit', onclick: () => openForm(r)},
            t('dispatch.edit')),
      HW.el('button', {type: 'button', class: 'danger delete', onclick: () => removeRule(r)},
            t('dispatch.delete')));
    rowsBox.append(HW.el('tr', {'data-key': r.key}, whereCell,
      contactCell(t('dispatch.col.unit'), r.unit, 'unit', r.key),
      contactCell(t('dispatch.col.person'), r.person, 'person', r.key),
      HW.el('td', {}, acts)));
  }
}
function changed() {
  problems = {}; dirty = true; drawRules(); say(t('dispatch.unsaved'), true);
}
window.addEventListener('beforeunload', ev => {  // leaving with rules not saved: ask first
  if (dirty) { ev.preventDefault(); ev.returnValue = ''; }
});
function removeRule(r) {
  rules = rules.filter(x => x !== r);
  if (editing === r) closeForm();
  changed();
}

// ----- the form of one rule ---------------------------------------------------------------------

function option(sel, value, text) { sel.append(HW.el('option', {value}, text)); }
async function zonesFor(camera) {
  if (camera === DEFAULT) return [];
  if (!zonesOf[camera]) {
    const data = await HW.api('/cameras/' + encodeURIComponent(camera) + '/zones');
    zonesOf[camera] = Object.keys(data.zones || {}).sort();
  }
  return zonesOf[camera];
}
async function fillZones(selected) {
  const camera = $('r-camera').value, sel = HW.clear($('r-zone'));
  sel.disabled = camera === DEFAULT;
  option(sel, '', camera === DEFAULT ? t('common.none') : t('dispatch.whole_camera'));
  let zones = [];
  try { zones = await zonesFor(camera); }
  catch (err) { $('form-msg').textContent = t('dispatch.zones_failed', {camera,
                                                                         error: err.message}); }
  if (camera !== $('r-camera').value) return;  // another camera was picked meanwhile
  // a rule may name a zone that is gone (the API then says so): keep it pickable
  for (const z of new Set([...zones, ...(selected ? [selected] : [])])) option(sel, z, z);
  sel.value = selected || '';
}
async function openForm(rule) {
  editing = rule;
  $('form-msg').textContent = '';
  const camSel = HW.clear($('r-camera'));
  for (const c of cameras) option(camSel, c.id, c.name ? c.id + ' — ' + c.name : c.id);
  option(camSel, DEFAULT, t('dispatch.default'));
  let camera = cameras.length ? cameras[0].id : DEFAULT, zone = '';
  if (rule) {
    [camera, zone] = rule.key === DEFAULT ? [DEFAULT, ''] : rule.key.split('/');
    if (camera !== DEFAULT && !cameras.some(c => c.id === camera)) option(camSel, camera, camera);
  }
  camSel.value = camera;
  $('form-title').textContent = rule ? t('dispatch.edit_rule', {where: where(rule.key)})
                                     : t('dispatch.new_rule');
  const unit = rule ? rule.unit : null, person = rule ? rule.person : null;
  $('r-unit-name').value = unit ? unit.name : '';
  $('r-unit-contact').value = unit && unit.contact ? unit.contact : '';
  $('r-person-name').value = person ? person.name : '';
  $('r-person-contact').value = person && person.contact ? person.contact : '';
  form.hidden = false;
  await fillZones(zone || '');
  form.scrollIntoView({block: 'nearest'});
  $('r-unit-name').focus();
}
function closeForm() { form.hidden = true; editing = null; }
function contact(nameId, contactId) {
  const name = $(nameId).value.trim(), reach = $(contactId).value.trim();
  return {name, contact: reach || null};
}
form.addEventListener('submit', ev => {
  ev.preventDefault();
  const fail = (text, id) => { $('form-msg').textContent = text; $(id).focus(); };
  const key = keyOf($('r-camera').value, $('r-zone').value);
  const unit = contact('r-unit-name', 'r-unit-contact');
  const person = contact('r-person-name', 'r-person-contact');
  if (!unit.name) { fail(t('dispatch.need_unit'), 'r-unit-name'); return; }
  if (!person.name && person.contact) { fail(t('dispatch.need_person'), 'r-person-name'); return; }
  const other = rules.find(r => r.key === key && r !== editing);
  if (other) { fail(t('dispatch.exists', {where: where(key)}), 'r-camera'); return; }
  const rule = {key, unit, person: person.name ? person : null};
  rules = editing ? rules.map(r => (r === editing ? rule : r)) : rules.concat([rule]);
  closeForm();
  changed();
});
$('r-cancel').addEventListener('click', closeForm);
$('r-camera').addEventListener('change', () => fillZones(''));
$('add').addEventListener('click', () => openForm(null));

// ----- saving ---------------------------------------------------------------------------------

$('save').addEventListener('click', async () => {
  try {
    const saved = await HW.api('/dispatch', {
      method: 'PUT', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(toApi())});
    rules = fromApi(saved.dispatch); problems = {}; dirty = false;
    showSource(saved); drawRules();
    say(t('dispatch.saved', {when: HW.when(saved.updated_at)}), true);
  } catch (err) {
    problems = {};
    const others = [];
    const errors = (err.body && err.body.errors) || [];
    for (const e of errors) {
      const found = locate(e.loc);
      if (found && rules.some(r => r.key === found[0])) {
        (problems[found[0]] = problems[found[0]] || []).push({field: found[1], text: e.msg});
      } else others.push(e.loc + ': ' + e.msg);
    }
    drawRules();
    const shown = errors.length - others.length;
    say([shown ? t('dispatch.not_saved', {n: shown}) : '', ...others].filter(Boolean).join('\\n') ||
        t('common.error', {message: err.message}));
  }
});

async function load() {
  try {
    const [list, data] = await Promise.all([HW.api('/cameras'), HW.api('/dispatch')]);
    cameras = list.items || [];
    rules = fromApi(data.dispatch); showSource(data); drawRules(); say('');
  } catch (err) {
    say(t('dispatch.load_failed', {error: err.message}));
  }
}
load();
"""

_REFUSED_BODY = """
<div class="card"><h2 data-i18n="dispatch.title"></h2>
<p class="err" id="msg" data-i18n="dispatch.only_admins"></p></div>
"""


def render_dispatch(principal: Principal, nonce: str) -> str:
    """The dispatch rules for an admin; for anyone else the page that says only admins may see
    them (``GET``/``PUT /dispatch`` answer them 403)."""
    allowed = principal.is_admin
    return layout(
        title=STRINGS["zh-CN"]["page.title"],
        active="dispatch",
        principal=principal,
        body=_BODY if allowed else _REFUSED_BODY,
        script=_SCRIPT if allowed else "",
        nonce=nonce,
        strings=STRINGS,
    )
