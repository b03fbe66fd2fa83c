"""Core's own plugin: necks, heads, tasks, generic timm backbones and a tiny test backbone."""
