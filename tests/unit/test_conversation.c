#include <stdlib.h>
#include <string.h>

#include "../../common/buf.h"
#include "../../service/conversation.h"
#include "check_main.h"

static char *cursor_text(void (*fill)(struct buf *))
{
	struct buf b = {0};
	fill(&b);
	buf_putc(&b, '\0');
	return buf_detach(&b, NULL);
}

static void before_42(struct buf *b)
{
	conv_cursor_messages(b, true, 42);
}

static void list_c1(struct buf *b)
{
	conv_cursor_list(b, 1795000000123LL, "c:1/é");
}

START_TEST(message_cursors_round_trip)
{
	struct mem_error err = {0};
	char *t = cursor_text(before_42);
	bool before = false;
	long long seq = 0;
	ck_assert_int_eq(conv_cursor_parse_messages(t, "cursor", &before, &seq, &err), 0);
	ck_assert(before);
	ck_assert_int_eq(seq, 42);
	/* a list cursor is not a message cursor, and the reverse */
	char *id = NULL;
	long long ms;
	ck_assert_int_eq(conv_cursor_parse_list(t, "cursor", &ms, &id, &err), -1);
	ck_assert_str_eq(err.field, "cursor");
	ck_assert_ptr_null(id);
	free(t);
	const char *bad[] = {"",           "6",
	                     "zz",         "6d3a623a",
	                     "6d3a783a31", "6d3a623a2d31",
	                     "6d00623a31", "6d3a623a3132333435363738393031323334353637383930"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mem_error_clear(&err);
		ck_assert_msg(conv_cursor_parse_messages(bad[i], "cursor", &before, &seq, &err) < 0,
		              "%s parsed", bad[i]);
		ck_assert_int_eq(err.code, MEM_EINVALID_FIELD);
	}
}
END_TEST

START_TEST(list_cursors_round_trip)
{
	struct mem_error err = {0};
	char *t = cursor_text(list_c1), *id = NULL;
	long long ms = 0;
	ck_assert_int_eq(conv_cursor_parse_list(t, "cursor", &ms, &id, &err), 0);
	ck_assert_int_eq(ms, 1795000000123LL);
	ck_assert_str_eq(id, "c:1/é");
	free(id);
	free(t);
	/* "l:1:" with an empty id, and an id holding a control character */
	ck_assert_int_eq(conv_cursor_parse_list("6c3a313a", "cursor", &ms, &id, &err), -1);
	ck_assert_int_eq(conv_cursor_parse_list("6c3a313a0a", "cursor", &ms, &id, &err), -1);
}
END_TEST

START_TEST(unpack_member)
{
	const char m[] = "7\0m-1\0user\0001795000000123\0{\"a\":1}\0hé\0llo";
	struct conv_message msg;
	ck_assert_int_eq(conv_unpack(m, sizeof(m) - 1, &msg), 0);
	ck_assert_int_eq(msg.seq, 7);
	ck_assert_str_eq(msg.id, "m-1");
	ck_assert_str_eq(msg.role, "user");
	ck_assert_int_eq(msg.created_at_ms, 1795000000123LL);
	ck_assert_str_eq(msg.metadata_json, "{\"a\":1}");
	ck_assert_int_eq(msg.content_len, 7); /* content is the rest, NUL included */
	conv_message_release(&msg);
	const char noid[] = "8\0\0tool\0001\0\0x";
	ck_assert_int_eq(conv_unpack(noid, sizeof(noid) - 1, &msg), 0);
	ck_assert_ptr_null(msg.id);
	ck_assert_str_eq(msg.metadata_json, "{}");
	conv_message_release(&msg);
	ck_assert_int_eq(conv_unpack("x\0\0\0\0\0", 6, &msg), -1);
	ck_assert_int_eq(conv_unpack("1\0a", 3, &msg), -1);
}
END_TEST

START_TEST(append_check_names_the_field)
{
	struct conv_message_in m[2] = {
	    {.role = "user", .content = "hi", .content_len = 2},
	    {.role = "assistant", .content = "hello", .content_len = 5, .metadata_json = "{}"},
	};
	struct conv_append a = {.conversation_id = "c", .expected_seq = -1, .messages = m, .n = 2};
	struct mem_error err = {0};
	ck_assert_int_eq(conv_append_check(&a, 10, 100, &err), 0);
	ck_assert_int_eq(conv_append_check(&a, 1, 100, &err), -1);
	ck_assert_str_eq(err.field, "messages");
	ck_assert_int_eq(conv_append_check(&a, 10, 4, &err), -1);
	ck_assert_int_eq(err.code, MEM_ETOO_LARGE);
	ck_assert_str_eq(err.field, "messages[1].content");
	m[1].role = "robot";
	ck_assert_int_eq(conv_append_check(&a, 10, 100, &err), -1);
	ck_assert_str_eq(err.field, "messages[1].role");
	m[1].role = "tool";
	m[0].metadata_json = "{\"k\":\"\\u0000\"}";
	ck_assert_int_eq(conv_append_check(&a, 10, 100, &err), -1);
	ck_assert_str_eq(err.field, "messages[0].metadata");
	m[0].metadata_json = "{\"n\":1e999999}";
	ck_assert_int_eq(conv_append_check(&a, 10, 100, &err), -1);
	m[0].metadata_json = NULL;
	a.n = 0;
	ck_assert_int_eq(conv_append_check(&a, 10, 100, &err), -1);
	ck_assert_str_eq(err.field, "messages");
	a.n = 2;
	a.conversation_id = "";
	ck_assert_int_eq(conv_append_check(&a, 10, 100, &err), -1);
	ck_assert_str_eq(err.field, "conversation_id");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("conversation");
	TCase *t = tcase_create("core");
	tcase_add_test(t, message_cursors_round_trip);
	tcase_add_test(t, list_cursors_round_trip);
	tcase_add_test(t, unpack_member);
	tcase_add_test(t, append_check_names_the_field);
	suite_add_tcase(s, t);
	return s;
}

CHECK_MAIN(suite)
