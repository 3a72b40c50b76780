CREATE TRIGGER trade_executions_same_event BEFORE INSERT ON trade_executions
BEGIN
    SELECT CASE
        WHEN stored.ticket IS NOT NEW.ticket THEN RAISE(ABORT, 'trade_executions: an event with this event_id was stored before with another ticket; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.symbol IS NOT NEW.symbol THEN RAISE(ABORT, 'trade_executions: an event with this event_id was stored before with another symbol; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.direction IS NOT NEW.direction THEN RAISE(ABORT, 'trade_executions: an event with this event_id was stored before with another direction; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.entry_price IS NOT NEW.entry_price THEN RAISE(ABORT, 'trade_executions: an event with this event_id was stored before with another entry_price; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.volume IS NOT NEW.volume THEN RAISE(ABORT, 'trade_executions: an event with this event_id was stored before with another volume; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.stop_loss IS NOT NEW.stop_loss THEN RAISE(ABORT, 'trade_executions: an event with this event_id was stored before with another stop_loss; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.take_profit IS NOT NEW.take_profit THEN RAISE(ABORT, 'trade_executions: an event with this event_id was stored before with another take_profit; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.recommendation_id IS NOT NEW.recommendation_id THEN RAISE(ABORT, 'trade_executions: an event with this event_id was stored before with another recommendation_id; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.comment IS NOT NEW.comment THEN RAISE(ABORT, 'trade_executions: an event with this event_id was stored before with another comment; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'trade_executions: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM trade_executions AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
    SELECT RAISE(ABORT, 'trade_executions: this ticket was opened before by another execution (another event_id); a ticket opens one trade: a retry must repeat the execution under its event_id, a new trade needs a ticket of its own')
    FROM trade_executions AS stored WHERE stored.ticket = NEW.ticket LIMIT 1;
    SELECT RAISE(ABORT, 'trade_positions: this ticket holds the position of another execution; a ticket opens one trade, a new trade needs a ticket of its own')
    FROM trade_positions WHERE ticket = NEW.ticket AND direction IS NOT NULL;
END;
CREATE TRIGGER position_updates_same_event BEFORE INSERT ON position_updates
BEGIN
    SELECT CASE
        WHEN stored.ticket IS NOT NEW.ticket THEN RAISE(ABORT, 'position_updates: an event with this event_id was stored before with another ticket; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.symbol IS NOT NEW.symbol THEN RAISE(ABORT, 'position_updates: an event with this event_id was stored before with another symbol; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.status IS NOT NEW.status THEN RAISE(ABORT, 'position_updates: an event with this event_id was stored before with another status; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.current_price IS NOT NEW.current_price THEN RAISE(ABORT, 'position_updates: an event with this event_id was stored before with another current_price; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.volume IS NOT NEW.volume THEN RAISE(ABORT, 'position_updates: an event with this event_id was stored before with another volume; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.stop_loss IS NOT NEW.stop_loss THEN RAISE(ABORT, 'position_updates: an event with this event_id was stored before with another stop_loss; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.take_profit IS NOT NEW.take_profit THEN RAISE(ABORT, 'position_updates: an event with this event_id was stored before with another take_profit; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.unrealized_pnl IS NOT NEW.unrealized_pnl THEN RAISE(ABORT, 'position_updates: an event with this event_id was stored before with another unrealized_pnl; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.close_price IS NOT NEW.close_price THEN RAISE(ABORT, 'position_updates: an event with this event_id was stored before with another close_price; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.realized_pnl IS NOT NEW.realized_pnl THEN RAISE(ABORT, 'position_updates: an event with this event_id was stored before with another realized_pnl; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'position_updates: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM position_updates AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
    SELECT RAISE(ABORT, 'position_updates: this ticket was closed before by another close (another event_id); a position closes once: a retry must repeat the close under its event_id')
    FROM position_updates AS stored WHERE NEW.status = 'closed' AND stored.ticket = NEW.ticket AND stored.status = 'closed' LIMIT 1;
END;
CREATE TRIGGER position_updates_apply AFTER INSERT ON position_updates
BEGIN
    INSERT INTO trade_positions (ticket, symbol, status, current_price, volume, stop_loss,
        take_profit, unrealized_pnl, close_price, realized_pnl, closed_ts, ts, event_id)
    VALUES (NEW.ticket, NEW.symbol, NEW.status, NEW.current_price, NEW.volume,
        NEW.stop_loss, NEW.take_profit,
        CASE WHEN NEW.status = 'closed' THEN NULL ELSE NEW.unrealized_pnl END,
        NEW.close_price, NEW.realized_pnl,
        CASE WHEN NEW.status = 'closed' THEN NEW.ts END, NEW.ts, NEW.event_id)
    ON CONFLICT (ticket) DO UPDATE SET
        status = excluded.status,
        current_price = excluded.current_price,
        volume = coalesce(excluded.volume, trade_positions.volume),
        stop_loss = coalesce(excluded.stop_loss, trade_positions.stop_loss),
        take_profit = coalesce(excluded.take_profit, trade_positions.take_profit),
        unrealized_pnl = CASE WHEN excluded.status = 'closed' THEN NULL
            ELSE coalesce(excluded.unrealized_pnl, trade_positions.unrealized_pnl) END,
        close_price = coalesce(excluded.close_price, trade_positions.close_price),
        realized_pnl = coalesce(excluded.realized_pnl, trade_positions.realized_pnl),
        closed_ts = coalesce(excluded.closed_ts, trade_positions.closed_ts),
        ts = excluded.ts,
        event_id = excluded.event_id
    WHERE CASE
        -- closed is final (a second close never gets here: it is refused)
        WHEN trade_positions.status = 'closed' THEN 0
        WHEN excluded.status = 'closed' THEN 1
        -- else the larger event_id; the execution's own id does not count
        ELSE excluded.event_id > trade_positions.event_id
            OR NOT EXISTS (SELECT 1 FROM position_updates AS u
                           WHERE u.event_id = trade_positions.event_id)
    END;
    UPDATE trade_positions SET
        volume = CASE WHEN NEW.volume IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM position_updates AS u WHERE u.ticket = NEW.ticket
                AND u.event_id > NEW.event_id AND u.volume IS NOT NULL)
            THEN NEW.volume ELSE volume END,
        stop_loss = CASE WHEN NEW.stop_loss IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM position_updates AS u WHERE u.ticket = NEW.ticket
                AND u.event_id > NEW.event_id AND u.stop_loss IS NOT NULL)
            THEN NEW.stop_loss ELSE stop_loss END,
        take_profit = CASE WHEN NEW.take_profit IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM position_updates AS u WHERE u.ticket = NEW.ticket
                AND u.event_id > NEW.event_id AND u.take_profit IS NOT NULL)
            THEN NEW.take_profit ELSE take_profit END,
        unrealized_pnl = CASE WHEN NEW.unrealized_pnl IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM position_updates AS u WHERE u.ticket = NEW.ticket
                AND u.event_id > NEW.event_id AND u.unrealized_pnl IS NOT NULL)
            THEN NEW.unrealized_pnl ELSE unrealized_pnl END
    WHERE ticket = NEW.ticket AND status <> 'closed' AND event_id > NEW.event_id
      AND EXISTS (SELECT 1 FROM position_updates AS u
                  WHERE u.event_id = trade_positions.event_id);
END;
CREATE INDEX position_updates_ticket_event ON position_updates (ticket, event_id);
