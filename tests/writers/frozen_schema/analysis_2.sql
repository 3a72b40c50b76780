
    CREATE INDEX trade_recommendations_status ON trade_recommendations (status, ts);
    CREATE INDEX trade_recommendations_symbol_ts ON trade_recommendations (symbol, ts);
    CREATE INDEX recommendation_updates_rec ON recommendation_updates (recommendation_id, ts);
    CREATE INDEX trade_analysis_symbol_ts ON trade_analysis (symbol, ts);
    CREATE INDEX analysis_results_kind_ts ON analysis_results (kind, ts);
    