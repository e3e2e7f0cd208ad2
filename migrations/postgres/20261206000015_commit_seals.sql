-- The serial end of a use case, done inside COMMIT (src/store/flush.rs).
-- A flush stages what must be applied one transaction at a time per
-- organization — a predicted ticket number to check against the counter,
-- audit entries to chain to the head — as one `commit_seals` row; a
-- deferred trigger applies it at COMMIT and deletes the row. So the counter
-- and the audit head are locked only while the transaction commits, and
-- the hand-over from one transaction to the next happens inside Postgres.

-- The advisory lock of a predicted ticket number: the inserting transaction
-- holds it (exclusive) until it ends; the next number's seal waits on it.
CREATE FUNCTION switchboard_number_lock(org UUID, kind TEXT, number BIGINT, shared BOOLEAN)
RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    IF shared THEN
        PERFORM pg_advisory_xact_lock_shared(hashtext(org::text || '/' || kind || '/number'),
                                             (number % 2147483648)::int4);
    ELSE
        PERFORM pg_advisory_xact_lock(hashtext(org::text || '/' || kind || '/number'),
                                      (number % 2147483648)::int4);
    END IF;
END $$;

CREATE TABLE commit_seals (
    id             UUID PRIMARY KEY,
    -- Audit entries of `audit_org`: canonical content before and after the
    -- sequence number, which only the locked head decides.
    audit_org      UUID,
    entries        JSONB NOT NULL,
    -- A predicted ticket number: the counter moves from number - 1.
    counter_org    UUID,
    counter_kind   TEXT,
    counter_number BIGINT
);

CREATE FUNCTION switchboard_seal() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    moved INTEGER;
    head_seq BIGINT;
    head_hash BYTEA;
    entry JSONB;
    content TEXT;
BEGIN
    IF NEW.counter_number IS NOT NULL THEN
        -- The number before ours commits (or rolls back) first.
        PERFORM switchboard_number_lock(NEW.counter_org, NEW.counter_kind, NEW.counter_number - 1, TRUE);
        IF NEW.counter_number = 1 OR EXISTS (SELECT 1 FROM ticket_counters
                WHERE org_id = NEW.counter_org AND kind = NEW.counter_kind) THEN
            INSERT INTO ticket_counters (org_id, kind, last_value)
            VALUES (NEW.counter_org, NEW.counter_kind, NEW.counter_number)
            ON CONFLICT (org_id, kind) DO UPDATE SET last_value = EXCLUDED.last_value
            WHERE ticket_counters.last_value = EXCLUDED.last_value - 1;
            GET DIAGNOSTICS moved = ROW_COUNT;
        ELSE
            moved := 0;
        END IF;
        IF moved = 0 THEN
            RAISE EXCEPTION 'ticket number % of % was taken meanwhile', NEW.counter_number, NEW.counter_kind
                USING ERRCODE = 'SBNUM';
        END IF;
    END IF;
    IF NEW.audit_org IS NOT NULL AND jsonb_array_length(NEW.entries) > 0 THEN
        SELECT seq, hash INTO head_seq, head_hash FROM audit_heads
            WHERE org_id = NEW.audit_org FOR UPDATE;
        IF NOT FOUND THEN
            head_seq := 0;
            head_hash := decode(repeat('00', 32), 'hex');
        END IF;
        FOR entry IN SELECT value FROM jsonb_array_elements(NEW.entries) LOOP
            head_seq := head_seq + 1;
            content := (entry->>'content_before_seq') || head_seq::text || (entry->>'content_after_seq');
            -- The same bytes as domain::audit::chain_hash.
            head_hash := sha256(head_hash || convert_to(content, 'UTF8'));
            INSERT INTO audit_log (org_id, seq, at, actor_id, action, subject, content, hash)
            VALUES (NEW.audit_org, head_seq, (entry->>'at')::timestamptz, (entry->>'actor_id')::uuid,
                    entry->>'action', entry->>'subject', content, head_hash);
        END LOOP;
        INSERT INTO audit_heads (org_id, seq, hash) VALUES (NEW.audit_org, head_seq, head_hash)
            ON CONFLICT (org_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash;
    END IF;
    DELETE FROM commit_seals WHERE id = NEW.id;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER commit_seals_apply AFTER INSERT ON commit_seals
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION switchboard_seal();
