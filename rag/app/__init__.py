"""Stage 5, answer -> page: the web chat, its links and the tools for assistants.

    layout.py    build_app: the Gradio page, its player and scripts
    chat.py      ChatApp: the handlers the page calls
    render.py    Answers and Hits -> escaped Markdown and HTML
    live.py      LiveIndex: the index being served, built at start-up when missing
    catalog.py   what the filters offer
    share.py     signed share links that reopen a frozen answer
    feedback.py  votes, appended to a log
    mcp_tools.py ask_podcast and find_moments for MCP clients
    http.py      request-size limits before Gradio reads a byte
"""
