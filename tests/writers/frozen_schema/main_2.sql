
    CREATE INDEX trade_executions_ticket ON trade_executions (ticket);
    CREATE INDEX trade_executions_symbol_ts ON trade_executions (symbol, ts);
    CREATE INDEX trade_positions_status ON trade_positions (status, symbol);
    CREATE INDEX position_updates_ticket_ts ON position_updates (ticket, ts);
    