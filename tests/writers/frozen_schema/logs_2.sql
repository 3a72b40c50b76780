
    CREATE INDEX trade_monitoring_ticket_ts ON trade_monitoring (ticket, ts);
    CREATE INDEX trade_monitoring_ts ON trade_monitoring (ts);
    CREATE INDEX trade_alerts_ts ON trade_alerts (ts);
    CREATE INDEX api_logs_ts ON api_logs (ts);
    CREATE INDEX system_health_component_ts ON system_health (component, ts);
    