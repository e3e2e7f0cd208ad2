-- switchboard_number_lock (migration 15) took a predicted ticket number's
-- advisory lock through a PL/pgSQL call. Since migration 16 the ticket
-- insert (src/store/tickets.rs) and switchboard_seal take that lock
-- themselves, keyed by the inlinable switchboard_number_key, and nothing
-- calls this function: dropped so that no one calls it again in the belief
-- that it is the lock. SQLite has no such function.
DROP FUNCTION switchboard_number_lock(UUID, TEXT, BIGINT, BOOLEAN);
