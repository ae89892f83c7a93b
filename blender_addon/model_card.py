"""What the connection panel says about a served model's card (no bpy: testable outside Blender)."""


def model_card_line(model) -> str:
    """One line from a model's card (the shipped default carries one): name, training data and FID."""
    card = (getattr(model, "provenance", None) or {}).get("model_card") or {}
    if not card:
        return ""
    parts = [f"'{card.get('name', model.name)}'"]
    if card.get("data_summary"):
        parts.append(str(card["data_summary"]))
    fid = (card.get("figures") or {}).get("fid")
    if isinstance(fid, (int, float)):
        parts.append(f"FID {fid:.1f}")
    if card.get("created"):
        parts.append(str(card["created"])[:10])
    return "Card: " + ", ".join(parts)
