"""Where a session lives: the content-addressed artifact store and the LangGraph checkpointers."""
