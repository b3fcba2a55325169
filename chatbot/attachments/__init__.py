"""Images and files sent in the chat, both ways (docs/widget.md, docs/security.md
"Attachments")."""
