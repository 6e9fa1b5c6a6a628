# ruff: noqa: E501  (template prose: a sentence per line reads better than split strings)
"""The e-mail templates (Jinja2), one per event type plus a fallback, kept in code so that
rendering stays pure (no files read).

Each body template fills two blocks, `zh` (Chinese, shown first) and `en`, of a layout given
as `layout` (plain text or HTML). Templates never write markup: they call `p(text)` for a
paragraph, `items(list)` for a bulleted list and `next(text)` for "what to do next"; the
layout's environment supplies text or HTML versions of these (HTML is autoescaped).
Subject templates render `Chinese / English` on one line.
"""

from __future__ import annotations

from shared.events import EventType

LAYOUT_TEXT = """\
{% block zh %}{% endblock %}
----------------------------------------
{% block en %}{% endblock %}
--
投资项目在线审批监管平台 / Investment project approval and supervision platform
事件编号 / Event id: {{ event_id }}
"""

LAYOUT_HTML = """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: sans-serif">
<div lang="zh-CN">{% block zh %}{% endblock %}</div>
<hr>
<div lang="en">{% block en %}{% endblock %}</div>
<p style="color: #666; font-size: small">投资项目在线审批监管平台 /
Investment project approval and supervision platform<br>事件编号 / Event id: {{ event_id }}</p>
</body></html>
"""

SUBJECTS: dict[str, str] = {
    EventType.PROJECT_SUPPLEMENT_REQUESTED: (
        "项目 {{ code }} 需要补充材料 / Project {{ code }}: supplementary materials required"
    ),
    EventType.PROJECT_APPROVED: "项目 {{ code }} 已获批准 / Project {{ code }} approved",
    EventType.PROJECT_REJECTED: "项目 {{ code }} 未获批准 / Project {{ code }} rejected",
    EventType.ALERT_RAISED: (
        "项目 {{ code }} 监管预警（{{ level_zh }}）/ Project {{ code }}: {{ level }} alert"
    ),
    EventType.ALERT_RESOLVED: ("项目 {{ code }} 预警已解除 / Project {{ code }}: alert resolved"),
    EventType.PROJECT_SUBMITTED: "项目 {{ code }} 已受理 / Project {{ code }} received",
    EventType.TASK_ASSIGNED: ("新的审批任务 {{ code }} / New approval task for project {{ code }}"),
}
GENERIC_SUBJECT = (
    "平台通知：{{ event_type }} {{ code }} / Platform notice: {{ event_type }} {{ code }}"
)

_SUPPLEMENT = """\
{% extends layout %}
{% block zh %}
{{ p("您的项目「" ~ name ~ "」（项目代码 " ~ code ~ "）需要补充材料，审批已暂停计时。") }}
{% for t in supplement_tasks %}
{{ p(t.department ~ "（" ~ t.matter_name ~ "）要求补充以下全部材料：") }}
{{ items(t.missing_materials) }}
{% if t.opinion %}{{ p("审批意见：" ~ t.opinion) }}{% endif %}
{% endfor %}
{{ next("下一步：请一次性准备上述全部材料，并通过平台提交补正（POST /api/v1/tasks/{task_id}/supplement）。提交后审批恢复计时，等待的时间不计入办理时限。") }}
{% endblock %}
{% block en %}
{{ p("Your project \\"" ~ name ~ "\\" (project code " ~ code ~ ") needs supplementary materials; its approval clock is paused.") }}
{% for t in supplement_tasks %}
{{ p(t.department ~ " (" ~ t.matter_name ~ ") asks for all of the following:") }}
{{ items(t.missing_materials) }}
{% if t.opinion %}{{ p("Opinion: " ~ t.opinion) }}{% endif %}
{% endfor %}
{{ next("Next: prepare every material listed above and submit them together through the platform (POST /api/v1/tasks/{task_id}/supplement). The clock resumes then; the time spent waiting does not count against the time limit.") }}
{% endblock %}
"""

_APPROVED = """\
{% extends layout %}
{% block zh %}
{{ p("您的项目「" ~ name ~ "」（项目代码 " ~ code ~ "）已通过全部审批事项。") }}
{{ items(documents_zh) }}
{{ next("下一步：开工时请在平台报送开工报告，并按期报送进度报告。") }}
{% endblock %}
{% block en %}
{{ p("Your project \\"" ~ name ~ "\\" (project code " ~ code ~ ") has been approved by every department concerned.") }}
{{ items(documents_en) }}
{{ next("Next: file a start report on the platform when construction starts, then progress reports on schedule.") }}
{% endblock %}
"""

_REJECTED = """\
{% extends layout %}
{% block zh %}
{{ p("很遗憾，您的项目「" ~ name ~ "」（项目代码 " ~ code ~ "）未获批准，其余审批事项已撤回。") }}
{{ items(rejections_zh) }}
{{ next("下一步：如有异议，可依法申请行政复议或提起行政诉讼；修改方案后可重新申报。") }}
{% endblock %}
{% block en %}
{{ p("Your project \\"" ~ name ~ "\\" (project code " ~ code ~ ") was not approved; its remaining approval tasks were withdrawn.") }}
{{ items(rejections_en) }}
{{ next("Next: you may apply for administrative reconsideration or litigation, or revise the project and submit it again.") }}
{% endblock %}
"""

_ALERT_RAISED = """\
{% extends layout %}
{% block zh %}
{{ p("项目 " ~ code ~ " 触发监管预警：" ~ kind_zh ~ "（" ~ level_zh ~ "）。") }}
{% if detail %}{{ p("说明：" ~ detail) }}{% endif %}
{{ next("如何解除：" ~ clear_zh) }}
{% endblock %}
{% block en %}
{{ p("Project " ~ code ~ " raised a supervision alert: " ~ kind_en ~ " (" ~ level ~ ").") }}
{% if detail %}{{ p("Detail: " ~ detail) }}{% endif %}
{{ next("How to clear it: " ~ clear_en) }}
{% endblock %}
"""

_ALERT_RESOLVED = """\
{% extends layout %}
{% block zh %}
{{ p("项目 " ~ code ~ " 的监管预警「" ~ kind_zh ~ "」已解除。") }}
{{ next("无需进一步操作。") }}
{% endblock %}
{% block en %}
{{ p("The supervision alert \\"" ~ kind_en ~ "\\" on project " ~ code ~ " has been resolved.") }}
{{ next("Nothing more to do.") }}
{% endblock %}
"""

_SUBMITTED = """\
{% extends layout %}
{% block zh %}
{{ p("项目「" ~ name ~ "」已受理，项目代码 " ~ code ~ "。需要办理的审批事项：") }}
{{ items(tasks_zh) }}
{{ next("下一步：等待各部门审批；如需补充材料，平台会通知您。") }}
{% endblock %}
{% block en %}
{{ p("Project \\"" ~ name ~ "\\" was received under project code " ~ code ~ ". Approval tasks:") }}
{{ items(tasks_en) }}
{{ next("Next: the departments review it; you will be told if materials are missing.") }}
{% endblock %}
"""

_TASK_ASSIGNED = """\
{% extends layout %}
{% block zh %}
{{ p(department ~ " 收到新的审批任务：" ~ matter_name ~ "，项目代码 " ~ code ~ "，办理期限 " ~ due ~ "。") }}
{{ next("下一步：在期限内作出决定（批准、不予批准或要求补充材料）。") }}
{% endblock %}
{% block en %}
{{ p(department ~ " has a new approval task: " ~ matter_name ~ " for project " ~ code ~ ", due " ~ due ~ ".") }}
{{ next("Next: decide it within the time limit (approve, reject or request supplementary materials).") }}
{% endblock %}
"""

_GENERIC = """\
{% extends layout %}
{% block zh %}
{{ p("平台事件：" ~ event_type ~ (("，项目代码 " ~ code) if code else "") ~ "。") }}
{% if gist %}{{ p(gist) }}{% endif %}
{{ next("详情请登录平台查看。") }}
{% endblock %}
{% block en %}
{{ p("Platform event: " ~ event_type ~ ((" on project " ~ code) if code else "") ~ ".") }}
{% if gist %}{{ p(gist) }}{% endif %}
{{ next("See the platform for the details.") }}
{% endblock %}
"""

BODIES: dict[str, str] = {
    EventType.PROJECT_SUPPLEMENT_REQUESTED: _SUPPLEMENT,
    EventType.PROJECT_APPROVED: _APPROVED,
    EventType.PROJECT_REJECTED: _REJECTED,
    EventType.ALERT_RAISED: _ALERT_RAISED,
    EventType.ALERT_RESOLVED: _ALERT_RESOLVED,
    EventType.PROJECT_SUBMITTED: _SUBMITTED,
    EventType.TASK_ASSIGNED: _TASK_ASSIGNED,
}
GENERIC_BODY = _GENERIC
