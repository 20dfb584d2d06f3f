-- Reverts 0012_passwords: the password entry point and its guard.

DROP TRIGGER trg_password_guard ON agentbase.users;
DROP FUNCTION agentbase.users_password_guard();
DROP FUNCTION agentbase.user_set_password(uuid, text, boolean);
