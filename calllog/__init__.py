"""The call log: every call's whole life, in SQL, the system of record.

Redis holds live state and can lose acknowledged writes on failover; the SQL
call log is what history, reports and a returning caller's record come from.
It is fed only from the Redis event stream (`calllog.writer`), exactly once:
the stream position is committed in the same transaction as the rows.
"""
