CREATE TRIGGER trade_monitoring_same_event BEFORE INSERT ON trade_monitoring
BEGIN
    SELECT CASE
        WHEN stored.ticket IS NOT NEW.ticket THEN RAISE(ABORT, 'trade_monitoring: an event with this event_id was stored before with another ticket; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.symbol IS NOT NEW.symbol THEN RAISE(ABORT, 'trade_monitoring: an event with this event_id was stored before with another symbol; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.monitoring_type IS NOT NEW.monitoring_type THEN RAISE(ABORT, 'trade_monitoring: an event with this event_id was stored before with another monitoring_type; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.status IS NOT NEW.status THEN RAISE(ABORT, 'trade_monitoring: an event with this event_id was stored before with another status; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.details IS NOT NEW.details THEN RAISE(ABORT, 'trade_monitoring: an event with this event_id was stored before with another details; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'trade_monitoring: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM trade_monitoring AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
END;
CREATE TRIGGER trade_alerts_same_event BEFORE INSERT ON trade_alerts
BEGIN
    SELECT CASE
        WHEN stored.alert_type IS NOT NEW.alert_type THEN RAISE(ABORT, 'trade_alerts: an event with this event_id was stored before with another alert_type; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.severity IS NOT NEW.severity THEN RAISE(ABORT, 'trade_alerts: an event with this event_id was stored before with another severity; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.message IS NOT NEW.message THEN RAISE(ABORT, 'trade_alerts: an event with this event_id was stored before with another message; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.symbol IS NOT NEW.symbol THEN RAISE(ABORT, 'trade_alerts: an event with this event_id was stored before with another symbol; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ticket IS NOT NEW.ticket THEN RAISE(ABORT, 'trade_alerts: an event with this event_id was stored before with another ticket; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'trade_alerts: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM trade_alerts AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
END;
CREATE TRIGGER api_logs_same_event BEFORE INSERT ON api_logs
BEGIN
    SELECT CASE
        WHEN stored.method IS NOT NEW.method THEN RAISE(ABORT, 'api_logs: an event with this event_id was stored before with another method; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.path IS NOT NEW.path THEN RAISE(ABORT, 'api_logs: an event with this event_id was stored before with another path; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.status_code IS NOT NEW.status_code THEN RAISE(ABORT, 'api_logs: an event with this event_id was stored before with another status_code; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.duration_ms IS NOT NEW.duration_ms THEN RAISE(ABORT, 'api_logs: an event with this event_id was stored before with another duration_ms; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.client IS NOT NEW.client THEN RAISE(ABORT, 'api_logs: an event with this event_id was stored before with another client; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'api_logs: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM api_logs AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
END;
CREATE TRIGGER system_health_same_event BEFORE INSERT ON system_health
BEGIN
    SELECT CASE
        WHEN stored.component IS NOT NEW.component THEN RAISE(ABORT, 'system_health: an event with this event_id was stored before with another component; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.status IS NOT NEW.status THEN RAISE(ABORT, 'system_health: an event with this event_id was stored before with another status; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.details IS NOT NEW.details THEN RAISE(ABORT, 'system_health: an event with this event_id was stored before with another details; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'system_health: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM system_health AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
END;
