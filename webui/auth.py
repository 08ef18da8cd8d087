"""Sign-in and sign-out. Passwords are checked by the engine (argon2); the session keeps only the username."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from .app import engine
from .i18n import gettext as _

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (``//evil``, ``https://…``) after signing in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("web.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if g.user is not None:
            return redirect(safe_next(request.args.get("next")))
        return render_template("login.html", next=request.args.get("next", ""), username="")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    person = engine().authenticate(username, password) if username and password else None
    if person is None:
        return render_template("login.html", next=request.form.get("next", ""), username=username,
                               error=_("用户名或密码不正确")), 401
    language = session.get("lang")
    session.clear()  # a fresh session (and CSRF token) for the signed-in user
    session["user"] = person.username
    if language:
        session["lang"] = language
    session.permanent = True
    return redirect(safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    return redirect(url_for("auth.login"))
