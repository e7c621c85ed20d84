"""What the system says in a conversation, in the visitor's language (English, Thai)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "visitor_handoff": "You asked for a person. Someone from the team will join shortly.",
        "asked_for_human": "You asked for a person. Someone from the team will join shortly.",
        "no_answer": "I could not find that in our help content, so I am asking a person "
                     "from the team to help.",
        # the bot's own answer when the visitor chose it over waiting (no handoff follows)
        "no_answer_stay": "I could not find that in our help content. You can ask for a "
                          "person at any time.",
        "llm_failed": "Sorry, I am having trouble answering right now. I am asking a person "
                      "from the team to help.",
        "unresolved": "It seems I am not helping, so I am asking a person from the team.",
        "plan_limit": "The assistant cannot answer more questions right now, so I am asking "
                      "a person from the team to help.",
        "release": "You are back with the assistant.",
        "back_to_bot": "You are back with the assistant.",
        "close": "This conversation was closed. How did we do?",
        "agent_joined": "{agent} joined the conversation.",
        "transferred": "{by} transferred you to {agent}.",
        "no_agent": "No one from the team is online right now. Leave your email and we will "
                    "get back to you, or keep this window open.",
        "wait_offer": "Sorry for the wait. You can keep waiting for a person, or go back to "
                      "the assistant.",
        "email_thanks": "Thanks, we will reply by email if no one is available here.",
        # outside the org's business hours (the org's own offline message, else this)
        "offline": "We are closed right now. Leave your email and we will get back to you.",
        "offline_custom": "{message}",
    },
    "th": {
        "visitor_handoff": "คุณขอคุยกับพนักงาน เจ้าหน้าที่จะเข้ามาในไม่ช้า",
        "asked_for_human": "คุณขอคุยกับพนักงาน เจ้าหน้าที่จะเข้ามาในไม่ช้า",
        "no_answer": "ไม่พบคำตอบในข้อมูลของเรา กำลังส่งต่อให้เจ้าหน้าที่ช่วยเหลือ",
        "no_answer_stay": "ไม่พบคำตอบในข้อมูลของเรา คุณขอคุยกับเจ้าหน้าที่ได้ทุกเมื่อ",
        "llm_failed": "ขออภัย ระบบตอบคำถามขัดข้องชั่วคราว กำลังส่งต่อให้เจ้าหน้าที่ช่วยเหลือ",
        "unresolved": "ดูเหมือนว่ายังไม่ได้คำตอบที่ต้องการ กำลังส่งต่อให้เจ้าหน้าที่",
        "plan_limit": "ขณะนี้ผู้ช่วยอัตโนมัติตอบคำถามเพิ่มไม่ได้ กำลังส่งต่อให้เจ้าหน้าที่ช่วยเหลือ",
        "release": "คุณกลับมาคุยกับผู้ช่วยอัตโนมัติแล้ว",
        "back_to_bot": "คุณกลับมาคุยกับผู้ช่วยอัตโนมัติแล้ว",
        "close": "การสนทนานี้ปิดแล้ว ช่วยให้คะแนนการบริการของเราหน่อยนะคะ",
        "agent_joined": "{agent} เข้าร่วมการสนทนาแล้ว",
        "transferred": "{by} ส่งต่อการสนทนาให้ {agent}",
        "no_agent": "ขณะนี้ไม่มีเจ้าหน้าที่ออนไลน์ ฝากอีเมลไว้แล้วเราจะติดต่อกลับ "
                    "หรือเปิดหน้าต่างนี้ไว้ก่อนได้",
        "wait_offer": "ขออภัยที่ให้รอ คุณจะรอเจ้าหน้าที่ต่อ หรือกลับไปคุยกับผู้ช่วยอัตโนมัติก็ได้",
        "email_thanks": "ขอบคุณค่ะ หากไม่มีเจ้าหน้าที่ว่าง เราจะตอบกลับทางอีเมล",
        "offline": "ขณะนี้อยู่นอกเวลาทำการ ฝากอีเมลไว้แล้วเราจะติดต่อกลับ",
        "offline_custom": "{message}",
    },
}


def language(locale: str | None) -> str:
    """`th`, `th-TH` -> th; anything else -> en."""
    return "th" if (locale or "").lower().startswith("th") else "en"


def system_text(key: str, locale: str | None = None, **args: str) -> str:
    return TEXTS[language(locale)][key].format(**args)


def has_text(key: str) -> bool:
    return key in TEXTS["en"]
