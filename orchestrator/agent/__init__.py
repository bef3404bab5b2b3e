"""The agent loop: the LangGraph graph, its state and nodes, the parser, plans, memory, the runner."""
