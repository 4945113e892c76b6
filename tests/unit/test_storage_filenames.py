"""Storage's copy layout (reference 000, "Copy files to"). The file name filters that decide what is
copied are tested with the other user patterns in test_patterns.py."""

from __future__ import annotations

from mailpipe.common.messages import Action, Attachment, FileCopy, MatchedEmail, ParsedEmail, Sighting
from mailpipe.storage.files import destination_key, hashed_name, planned_copies, safe_folder, safe_segment


def test_copy_layout_cannot_leave_its_folder() -> None:
    assert safe_segment("..") == "_" and safe_segment("a/b\\c\x00") == "a_b_c_"
    assert safe_folder("/Mail//../in/") == "Mail/_/in"
    assert destination_key("task", "42", "", "a.pdf") == "crm/task/42/a.pdf"
    assert destination_key("company", "7", "Mail/in", "../x.pdf") == "crm/company/7/Mail/in/.._x.pdf"
    assert hashed_name("report.pdf", "abcdef0123456789") == "report.abcdef012345.pdf"
    assert hashed_name("README", "abcdef0123456789") == "README.abcdef012345"


def test_plan_lists_each_target_and_file_once() -> None:
    att = Attachment(filename="a.pdf", content_type="application/pdf", size_bytes=1, sha256="cd" * 32,
                     object_key=f"att/sha256/cd/{'cd' * 32}")
    copy = FileCopy(target_type="task", target_id="9", folder="F", object_keys=[att.object_key], filenames=["a.pdf"])
    email = ParsedEmail(email_id="00000000-0000-0000-0000-000000000009", message_id=None, size_bytes=1,
                        sha256="0" * 64, sighting=Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1),
                        attachments=[att])
    matched = MatchedEmail(email=email, actions=[Action(kind="files_to_copy", reason="r", copies=[copy, copy]),
                                                 Action(kind="case_created", reason="r")])
    [only] = planned_copies(matched)
    assert (only.dest_key, only.source_key, only.sha256) == ("crm/task/9/F/a.pdf", att.object_key, att.sha256)
    assert planned_copies(MatchedEmail(email=email)) == []
