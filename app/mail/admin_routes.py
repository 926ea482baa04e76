"""Admin > System Email Settings, Admin > Inbound Email, and a user's Email Settings from Admin >
User Management (admins only, audited)."""

from app.admin import require_admin
from app.mail import admin_bp
from app.mail.models import GROUP, PERSONAL, SYSTEM
from app.mail.views import SettingsPage, add_routes

admin_bp.before_request(require_admin)

SYSTEM_PAGE = SettingsPage("emails_admin.system", SYSTEM, "System Email Settings", True, False)
INBOUND_PAGE = SettingsPage("emails_admin.inbound", GROUP, "Inbound Email", False, True)
USER_PAGE = SettingsPage(
    "emails_admin.user_settings", PERSONAL, "Email Settings", True, True, subject_arg="user_id"
)

add_routes(admin_bp, "/system", SYSTEM_PAGE)
add_routes(admin_bp, "/inbound", INBOUND_PAGE)
add_routes(admin_bp, "/users/<int:user_id>", USER_PAGE)
