CREATE TRIGGER trade_recommendations_same_event BEFORE INSERT ON trade_recommendations
BEGIN
    SELECT CASE
        WHEN stored.recommendation_id IS NOT NEW.recommendation_id THEN RAISE(ABORT, 'trade_recommendations: an event with this event_id was stored before with another recommendation_id; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.symbol IS NOT NEW.symbol THEN RAISE(ABORT, 'trade_recommendations: an event with this event_id was stored before with another symbol; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.direction IS NOT NEW.direction THEN RAISE(ABORT, 'trade_recommendations: an event with this event_id was stored before with another direction; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.entry_price IS NOT NEW.entry_price THEN RAISE(ABORT, 'trade_recommendations: an event with this event_id was stored before with another entry_price; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.stop_loss IS NOT NEW.stop_loss THEN RAISE(ABORT, 'trade_recommendations: an event with this event_id was stored before with another stop_loss; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.take_profit IS NOT NEW.take_profit THEN RAISE(ABORT, 'trade_recommendations: an event with this event_id was stored before with another take_profit; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.confidence IS NOT NEW.confidence THEN RAISE(ABORT, 'trade_recommendations: an event with this event_id was stored before with another confidence; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.reasoning IS NOT NEW.reasoning THEN RAISE(ABORT, 'trade_recommendations: an event with this event_id was stored before with another reasoning; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.timeframe IS NOT NEW.timeframe THEN RAISE(ABORT, 'trade_recommendations: an event with this event_id was stored before with another timeframe; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.source IS NOT NEW.source THEN RAISE(ABORT, 'trade_recommendations: an event with this event_id was stored before with another source; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'trade_recommendations: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM trade_recommendations AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
    SELECT RAISE(ABORT, 'trade_recommendations: this recommendation_id was stored before by another event (another event_id); a recommendation is logged once: a retry must repeat it under its event_id, a change is a recommendation update, a new recommendation needs a recommendation_id of its own')
    FROM trade_recommendations AS stored WHERE stored.recommendation_id = NEW.recommendation_id LIMIT 1;
END;
CREATE TRIGGER recommendation_updates_same_event BEFORE INSERT ON recommendation_updates
BEGIN
    SELECT CASE
        WHEN stored.recommendation_id IS NOT NEW.recommendation_id THEN RAISE(ABORT, 'recommendation_updates: an event with this event_id was stored before with another recommendation_id; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.status IS NOT NEW.status THEN RAISE(ABORT, 'recommendation_updates: an event with this event_id was stored before with another status; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ticket IS NOT NEW.ticket THEN RAISE(ABORT, 'recommendation_updates: an event with this event_id was stored before with another ticket; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.outcome IS NOT NEW.outcome THEN RAISE(ABORT, 'recommendation_updates: an event with this event_id was stored before with another outcome; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.realized_pnl IS NOT NEW.realized_pnl THEN RAISE(ABORT, 'recommendation_updates: an event with this event_id was stored before with another realized_pnl; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'recommendation_updates: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM recommendation_updates AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
    SELECT RAISE(ABORT, 'recommendation_updates: this recommendation was closed before by another update (another event_id); a recommendation closes once: a retry must repeat the close under its event_id')
    FROM recommendation_updates AS stored WHERE NEW.status = 'closed' AND stored.recommendation_id = NEW.recommendation_id AND stored.status = 'closed' LIMIT 1;
END;
CREATE TRIGGER trade_analysis_same_event BEFORE INSERT ON trade_analysis
BEGIN
    SELECT CASE
        WHEN stored.symbol IS NOT NEW.symbol THEN RAISE(ABORT, 'trade_analysis: an event with this event_id was stored before with another symbol; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.timeframe IS NOT NEW.timeframe THEN RAISE(ABORT, 'trade_analysis: an event with this event_id was stored before with another timeframe; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.regime IS NOT NEW.regime THEN RAISE(ABORT, 'trade_analysis: an event with this event_id was stored before with another regime; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.confluence_score IS NOT NEW.confluence_score THEN RAISE(ABORT, 'trade_analysis: an event with this event_id was stored before with another confluence_score; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.indicators IS NOT NEW.indicators THEN RAISE(ABORT, 'trade_analysis: an event with this event_id was stored before with another indicators; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'trade_analysis: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM trade_analysis AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
END;
CREATE TRIGGER analysis_results_same_event BEFORE INSERT ON analysis_results
BEGIN
    SELECT CASE
        WHEN stored.kind IS NOT NEW.kind THEN RAISE(ABORT, 'analysis_results: an event with this event_id was stored before with another kind; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.payload IS NOT NEW.payload THEN RAISE(ABORT, 'analysis_results: an event with this event_id was stored before with another payload; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.symbol IS NOT NEW.symbol THEN RAISE(ABORT, 'analysis_results: an event with this event_id was stored before with another symbol; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'analysis_results: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM analysis_results AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
END;
CREATE TRIGGER recommendation_updates_apply AFTER INSERT ON recommendation_updates
BEGIN
    UPDATE trade_recommendations SET
        status = NEW.status,
        ticket = coalesce(NEW.ticket, ticket),
        outcome = coalesce(NEW.outcome, outcome),
        realized_pnl = coalesce(NEW.realized_pnl, realized_pnl),
        updated_ts = NEW.ts,
        updated_event_id = NEW.event_id
    WHERE recommendation_id = NEW.recommendation_id AND (
        (CASE NEW.status WHEN 'pending' THEN 0 WHEN 'rejected' THEN 1 WHEN 'expired' THEN 1 WHEN 'executed' THEN 2 WHEN 'closed' THEN 3 ELSE 0 END) > (CASE status WHEN 'pending' THEN 0 WHEN 'rejected' THEN 1 WHEN 'expired' THEN 1 WHEN 'executed' THEN 2 WHEN 'closed' THEN 3 ELSE 0 END)
        OR ((CASE NEW.status WHEN 'pending' THEN 0 WHEN 'rejected' THEN 1 WHEN 'expired' THEN 1 WHEN 'executed' THEN 2 WHEN 'closed' THEN 3 ELSE 0 END) = (CASE status WHEN 'pending' THEN 0 WHEN 'rejected' THEN 1 WHEN 'expired' THEN 1 WHEN 'executed' THEN 2 WHEN 'closed' THEN 3 ELSE 0 END) AND status <> 'closed'
            AND NEW.event_id > updated_event_id));
END;
-- A recommendation that arrives after its updates (out-of-order delivery) takes the
-- state they give.
CREATE TRIGGER trade_recommendations_catch_up AFTER INSERT ON trade_recommendations
BEGIN
    UPDATE trade_recommendations SET
        status = u.status,
        ticket = (SELECT ticket FROM recommendation_updates
                  WHERE recommendation_id = NEW.recommendation_id AND ticket IS NOT NULL
                  ORDER BY event_id DESC LIMIT 1),
        outcome = (SELECT outcome FROM recommendation_updates
                   WHERE recommendation_id = NEW.recommendation_id AND outcome IS NOT NULL
                   ORDER BY event_id DESC LIMIT 1),
        realized_pnl = (SELECT realized_pnl FROM recommendation_updates
                        WHERE recommendation_id = NEW.recommendation_id
                          AND realized_pnl IS NOT NULL
                        ORDER BY event_id DESC LIMIT 1),
        updated_ts = u.ts,
        updated_event_id = u.event_id
    FROM (SELECT status, ts, event_id FROM recommendation_updates
          WHERE recommendation_id = NEW.recommendation_id
          ORDER BY (CASE status WHEN 'pending' THEN 0 WHEN 'rejected' THEN 1 WHEN 'expired' THEN 1 WHEN 'executed' THEN 2 WHEN 'closed' THEN 3 ELSE 0 END) DESC, event_id DESC
          LIMIT 1) AS u
    WHERE trade_recommendations.recommendation_id = NEW.recommendation_id;
END;
CREATE INDEX recommendation_updates_rec_event
    ON recommendation_updates (recommendation_id, event_id);
