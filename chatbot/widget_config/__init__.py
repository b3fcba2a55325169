"""What sites that embed the widget are served besides its socket: the embed snippet and the
admin's preview of the owner's appearance, each page's proactive greeting, agents' photos, and the
demo store. A plain package, not an app: `WidgetAppearance` and `PageGreeting` are the core's."""
