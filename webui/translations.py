"""English for every Chinese text the pages show (the Chinese is the key; a test checks none is missing)."""

EN: dict[str, str] = {
    # header, navigation, footer
    "GovFlow 政务流程": "GovFlow", "GovFlow 政务流程引擎": "GovFlow workflow engine", "主导航": "Main navigation",
    "收件箱": "Inbox", "发起": "Start", "通知": "Notifications", "未读通知": "Unread notifications", "设置": "Settings",
    "退出": "Sign out", "时间均为北京时间": "All times are Beijing time",
    # sign-in and errors
    "登录": "Sign in", "请使用您的工作账号登录。": "Sign in with your work account.", "用户名": "Username",
    "密码": "Password", "用户名或密码不正确": "Wrong username or password", "无权访问": "Access denied",
    "页面不存在": "Page not found", "状态已变化": "The state has changed", "输入有误": "Invalid input",
    "请求有误": "Bad request", "出错了": "Something went wrong",
    "您没有办理或查看此项的权限，未做任何改动。如有疑问，请联系区政府办公室。":
        "You may not see or act on this; nothing was changed. Ask the district government office if in doubt.",
    "返回收件箱": "Back to the inbox",
    # inbox
    "待办": "To do", "可认领": "To claim", "已办": "Done", "抄送我的": "Copied to me", "发起事项": "Start a procedure",
    "分类": "Tabs", "搜索标题、事项": "Search titles and matters", "搜索": "Search", "流程": "Procedure",
    "全部流程": "All procedures", "全部状态": "Any status", "排序": "Sort", "筛选": "Filter", "清除": "Clear",
    "没有待办事项。": "Nothing to do.", "没有可认领的事项。": "Nothing to claim.", "还没有已办事项。": "Nothing done yet.",
    "没有抄送给您的事项。": "Nothing has been copied to you.", "标题": "Title", "抄送人": "Copied by",
    "抄送时间": "Copied at", "已读": "Read", "未读": "Unread", "发送人": "Sent by", "收到时间": "Received",
    "办理时间": "Done at", "委派": "Delegate", "加签": "Add signer", "代 {name} 办理": "for {name}", "分页": "Pages",
    "上一页": "Previous", "下一页": "Next", "第 {page} / {pages} 页，共 {total} 条": "Page {page} of {pages}, {total} in all",
    "共 {total} 条": "{total} in all", "按到期时间（先到期在前）": "Due date, soonest first",
    "按到期时间（后到期在前）": "Due date, latest first", "按收到时间（最新在前）": "Received, newest first",
    "按收到时间（最早在前）": "Received, oldest first", "已超期": "Overdue", "即将到期": "Due soon",
    "期限": "Due", "当前步骤": "Current step",
    # notifications
    "只看未读": "Unread only", "全部": "All", "全部标为已读": "Mark all read", "没有通知。": "No notifications.",
    "查看": "Open", "标为已读": "Mark read", "新任务": "New task", "催办": "Urge", "退回": "Return",
    "超期": "Overdue", "抄送": "Copy", "转办": "Transfer",
    # start
    "您目前没有可以发起的流程。": "There is no procedure you may start.", "取消": "Cancel",
    "已发起「{title}」": "Started “{title}”",
    # task page
    "办理": "Act", "此前经手": "Handled before", "已填入上次提交的内容，请核对后重新提交。":
        "The form holds what was submitted last time; check it and submit again.",
    "此步骤无需填写内容，确认后提交即可。": "Nothing to fill in for this step: submit to confirm.", "提交": "Submit",
    "此任务由角色成员认领后办理。": "A member of the role claims this task, then acts on it.",
    "您可以查看此任务，但不能办理（只读）。": "You can see this task but not act on it (read-only).", "认领": "Claim",
    "退回到": "Return to", "退回理由": "Reason for returning", "确认退回": "Return", "确认转办": "Transfer",
    "任务交由对方办理，不再回到您这里。": "The task goes to them and does not come back to you.",
    "确认委派": "Delegate", "对方办理后，任务回到您这里由您提交。": "After they act, the task comes back to you to submit.",
    "交给": "To", "加签人": "Signer", "前加签（对方先签，再回到我）": "Before me (they sign first, then it comes back)",
    "后加签（我提交后，对方再签）": "After me (they sign after I submit)", "确认加签": "Add signer",
    "释放（退回认领池）": "Release (back to the role)", "查看整个流程": "The whole procedure", "操作": "Actions",
    "撤回": "Withdraw", "下一步尚未办理时，可撤回本步重新办理。":
        "While nobody has acted on the next step you can take this step back and redo it.",
    "撤回理由": "Reason for withdrawing", "确认撤回": "Withdraw", "当前在办": "Open now", "待认领": "to be claimed",
    "办理人": "Assignee",
    # form fields
    "请修改标红的内容后再提交。": "Correct the fields marked in red, then submit again.", "必填": "required",
    "北京时间": "Beijing time", "— 请选择 —": "— choose —", "是": "Yes", "否": "No", "确认": "Confirmed",
    "每行一项": "One item per line", "添加一项": "Add an item", "空白的项不会提交": "Blank items are not submitted",
    # instance parts
    "已填报的内容": "Data so far", "其他数据": "Other data", "承办部门": "Department", "暂无内容。": "Nothing yet.", "时限倒计时": "Time limits",
    "没有正在计时的时限。": "No time limit is running.", "办理步骤": "Steps", "步骤": "Step", "状态": "Status",
    "收到": "Received", "办结": "Done", "附件": "Files", "文件": "File", "版本": "Version", "上传人": "Uploaded by",
    "时间": "Time", "说明": "Note", "暂无附件。": "No files.", "选择文件": "Choose a file", "说明（可选）": "Note (optional)",
    "上传": "Upload", "同名文件将保存为新版本，旧版本保留。": "A file of the same name is kept as its next version.",
    "意见交流": "Comments", "暂无意见。": "No comments.", "写下您的意见…": "Write a comment…", "意见": "Comment",
    "发表": "Post", "办理记录": "History", "流程图": "Diagram", "已完成": "Finished", "被退回": "Returned",
    "— 选择人员 —": "— choose a person —", "其他": "Other", "附言（可选）": "Note (optional)", "附言": "Note",
    "催办说明（可选）": "Message (optional)", "催办说明": "Message", "发送催办": "Send reminder",
    "编号": "No.", "发起人": "Started by", "发起时间": "Started at", "办结时间": "Finished at",
    "抄送与阅读回执": "Copies and read receipts", "抄送给": "Copied to", "阅读": "Read",
    # settings
    "个人信息": "Profile", "姓名": "Name", "部门": "Department", "角色": "Roles", "API 令牌": "API tokens",
    "供其他系统或脚本调用 /api/ 接口，请求头写 Authorization: Bearer 令牌。令牌只显示一次，请妥善保存。":
        "For scripts and other systems calling /api/: send Authorization: Bearer <token>. A token is shown once: keep it safe.",
    "接口文档（OpenAPI）": "API reference (OpenAPI)", "新令牌：": "New token: ", "名称": "Label", "创建时间": "Created",
    "最近使用": "Last used", "撤销": "Revoke", "令牌名称，如：统计脚本": "Token label, e.g. report script",
    "令牌名称": "Token label", "生成令牌": "Create token", "撤销此名称的令牌": "Revoke the token with this label",
    "已撤销令牌「{label}」": "Revoked the token “{label}”",
    # flashes
    "已提交「{title}」": "Submitted “{title}”", "已认领，任务已进入您的待办": "Claimed: the task is in your to-do list",
    "已释放，任务回到可认领列表": "Released: the task is back for its role to claim",
    "请选择退回到哪一步": "Choose the step to return to", "已退回": "Returned", "已转办给 {name}": "Transferred to {name}",
    "已委派给 {name}，对方办理后任务将回到您这里": "Delegated to {name}; it comes back to you after they act",
    "请选择前加签或后加签": "Choose before or after", "已加签 {name}": "Added {name} as a signer",
    "请选择人员": "Choose a person", "已撤回，该步骤回到您的待办": "Withdrawn: the step is back in your to-do list",
    "请选择抄送给谁": "Choose whom to copy", "已抄送": "Copied", "已催办": "Reminder sent",
    "意见不能为空": "The comment is empty", "已发表意见": "Comment posted", "请选择要上传的文件": "Choose a file to upload",
    "已上传「{name}」": "Uploaded “{name}”",
    # time left
    "{d} 天 {h} 小时": "{d} d {h} h", "{h} 小时 {m} 分": "{h} h {m} min", "{m} 分钟": "{m} min",
    "已超期 {span}": "overdue by {span}", "剩 {span}": "{span} left", "剩 {n} 个工作日": "{n} working days left",
    # history
    "系统": "System", "（前加签）": "(before)", "（后加签）": "(after)", "至「{step}」": "to “{step}”",
    "理由：{reason}": "reason: {reason}", "（代 {name}）": " (for {name})",
    "发起了流程": "started the procedure", "办理了": "completed", "认领了": "claimed", "释放了": "released",
    "退回了": "returned", "转办了": "transferred", "委派了": "delegated", "加签了": "added a signer to",
    "抄送了": "copied", "阅读了抄送": "read the copy", "催办了": "urged", "撤回了": "withdrew",
    "发表了意见": "commented", "上传了附件": "uploaded a file", "时限到达": "time limit reached",
    "流程运行出错": "the instance failed", "因请假转由代理人办理": "handed to the acting person (absence)",
    "查阅了涉密文件": "viewed the classified file", "部署了流程": "deployed", "交班移交了": "handed over at shift change",
    "委派办理完毕，交回": "finished the delegated task and handed it back", "加签办理了": "signed", "办理后转交": "acted and passed it on",
    "标记为超期": "flagged overdue", "受委派办理": "acted as delegate", "前加签办理": "signed before",
    "后加签办理": "signed after",
    # states
    "办理中": "In progress", "已办结": "Finished", "出错": "Failed", "已取消": "Cancelled", "已撤回": "Withdrawn",
    "已转办": "Transferred", "已委派": "Delegated",
}
