from django.contrib.auth import views as auth_views
from django.urls import include, path

from .views import access, auth, cluster, maintenance, members, overview, services, system

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # System Overview
    path("", overview.overview, name="overview"),
    path("overview/live/", overview.overview_live, name="overview-live"),
    # Cluster Configuration › Layer 4 services and real servers
    path("services/", services.service_list, name="service-list"),
    path("services/add/", services.service_edit, name="service-add"),
    path("services/advice/", services.service_advice, name="service-advice"),
    path("services/<int:pk>/edit/", services.service_edit, name="service-edit"),
    path("services/<int:pk>/delete/", services.service_delete, name="service-delete"),
    path("services/<int:pk>/checklist/", services.service_checklist, name="service-checklist"),
    path("services/<int:pk>/checklist/live/", services.service_checklist_live, name="service-checklist-live"),
    path("services/checklists/", services.checklists, name="checklists"),
    path("services/<int:service_pk>/servers/add/", services.server_edit, name="server-add"),
    path("servers/", services.server_list, name="server-list"),
    path("servers/<int:pk>/edit/", services.server_edit, name="server-edit"),
    path("servers/<int:pk>/health/", services.server_health, name="server-health"),
    path("servers/<int:pk>/delete/", services.server_delete, name="server-delete"),
    path("servers/<int:pk>/<str:action>/", overview.server_state, name="server-state"),
    path("wizards/aovpn/", services.aovpn_wizard, name="aovpn-wizard"),
    # Cluster Configuration › the rest
    path("cluster/advanced/", cluster.advanced, name="advanced"),
    path("cluster/floating-ips/", cluster.floating_ips, name="floating-ips"),
    path("cluster/floating-ips/add/", cluster.floating_ip_edit, name="floating-ip-add"),
    path("cluster/floating-ips/<int:pk>/edit/", cluster.floating_ip_edit, name="floating-ip-edit"),
    path("cluster/floating-ips/<int:pk>/delete/", cluster.floating_ip_delete, name="floating-ip-delete"),
    path("cluster/ha/", cluster.ha_pair, name="ha"),
    path("cluster/bgp/", cluster.bgp, name="bgp"),
    path("cluster/bgp/members/", members.members_action, name="bgp-members"),
    path("cluster/bgp/members/live/", members.members_live, name="bgp-members-live"),
    path("cluster/bgp/neighbours/add/", cluster.bgp_neighbour_edit, name="bgp-neighbour-add"),
    path("cluster/bgp/neighbours/<int:pk>/edit/", cluster.bgp_neighbour_edit, name="bgp-neighbour-edit"),
    path("cluster/bgp/neighbours/<int:pk>/delete/", cluster.bgp_neighbour_delete, name="bgp-neighbour-delete"),
    # Local Configuration
    path("local/", system.local_config, name="local"),
    path("local/network/", include("frontend.network_urls")),
    path("local/management/", access.management_access, name="management-access"),
    path("local/management/add/", access.management_network_edit, name="management-add"),
    path("local/management/<int:pk>/edit/", access.management_network_edit, name="management-edit"),
    path("local/management/<int:pk>/delete/", access.management_network_delete, name="management-delete"),
    # Maintenance
    path("maintenance/apply/", maintenance.apply_page, name="apply"),
    path("maintenance/apply/start/", maintenance.apply_start, name="apply-start"),
    path("maintenance/apply/runs/<int:pk>/", maintenance.apply_run_progress, name="apply-progress"),
    path("maintenance/", include("frontend.maintenance_urls")),
    path("maintenance/backup/", maintenance.backup, name="backup"),
    path("maintenance/backup/download/", maintenance.backup_download, name="backup-download"),
    path("maintenance/backup/restore/", maintenance.restore_confirm, name="restore-confirm"),
    path("maintenance/users/", maintenance.users, name="users"),
    path("maintenance/users/add/", maintenance.user_edit, name="user-add"),
    path("maintenance/users/<int:pk>/edit/", maintenance.user_edit, name="user-edit"),
    path("maintenance/users/<int:pk>/delete/", maintenance.user_delete, name="user-delete"),
    path("maintenance/tokens/", maintenance.tokens, name="tokens"),
    path("maintenance/tokens/<int:pk>/revoke/", maintenance.token_revoke, name="token-revoke"),
    path("account/password/", maintenance.password, name="password"),
    # View Configuration, Reports, Logs
    path("config/", system.view_config, name="view-config"),
    path("reports/", system.reports, name="reports"),
    path("reports/data/", system.reports_data, name="reports-data"),
    path("logs/", system.logs, name="logs"),
]
