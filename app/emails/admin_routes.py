"""Admin > System Email Settings and Admin > Inbound Email (admins only, audited)."""

from app.admin import require_admin
from app.emails import admin_bp
from app.emails.views import SettingsPage, add_routes
from app.models.mail import GROUP, SYSTEM

admin_bp.before_request(require_admin)

SYSTEM_PAGE = SettingsPage("emails_admin.system", SYSTEM, "System Email Settings", True, False)
INBOUND_PAGE = SettingsPage("emails_admin.inbound", GROUP, "Inbound Email", False, True)

add_routes(admin_bp, "/system", SYSTEM_PAGE)
add_routes(admin_bp, "/inbound", INBOUND_PAGE)
