"""The moderator console: server-rendered pages under /console on the API's own app.

`install(app)` adds the routes, the static files and the security headers; nothing is loaded
from outside the server and no build step exists (Jinja2 templates, one small script, one
style sheet).
"""

from integrity.console.routes import install

__all__ = ["install"]
