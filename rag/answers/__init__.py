"""Stage 4, moments -> answer: a grounded answer that cites its moments, or a refusal.

    answerer.py  Answerer.stream: follow-up rewrite -> search -> refusal gate -> LLM or quotes
    refusal.py   the gate: answer only when one moment covers the question on its own
    prompts.py, prompts.yaml   the LLM's instructions and the messages built from them
    llm.py       the LLM protocol, its settings and the checks on its replies
    openai_chat.py   the OpenAI-compatible client, under a deadline it cannot outlive
    citations.py parse and verify the [n] markers
    extractive.py    the answer without an LLM: quotes of the moment
    followup.py  questions that lean on the conversation
    rerank.py    optional LLM re-ranking of the moments
    budget.py    how many LLM-written answers a visitor gets
"""
