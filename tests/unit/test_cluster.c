#include <string.h>

#include "../../service/redis/cluster.h"
#include "check_main.h"

/* A reply parsed by hiredis from RESP text, as the transport would give it. */
static redisReply *resp(const char *text)
{
	redisReader *rd = redisReaderCreate();
	void *r = NULL;
	ck_assert_int_eq(redisReaderFeed(rd, text, strlen(text)), REDIS_OK);
	ck_assert_int_eq(redisReaderGetReply(rd, &r), REDIS_OK);
	ck_assert_ptr_nonnull(r);
	redisReaderFree(rd);
	return r;
}

START_TEST(key_slot)
{
	/* CRC16-XMODEM's check value, and slots the specification and
	 * CLUSTER KEYSLOT give (tests/ops/cluster.sh compares a live cluster) */
	ck_assert_uint_eq(cluster_key_slot("123456789", 9), 0x31C3);
	ck_assert_uint_eq(cluster_key_slot("foo", 3), 12182);
	ck_assert_uint_eq(cluster_key_slot("", 0), 0);
	/* hash tags */
	ck_assert_uint_eq(cluster_key_slot("{user1000}.following", 21),
	                  cluster_key_slot("user1000", 8));
	ck_assert_uint_eq(cluster_key_slot("{user1000}.followers", 20),
	                  cluster_key_slot("{user1000}.following", 21));
	ck_assert_uint_eq(cluster_key_slot("foo{}{bar}", 10), cluster_key_slot("foo{}{bar}", 10));
	ck_assert_uint_ne(cluster_key_slot("foo{}{bar}", 10), cluster_key_slot("bar", 3));
	ck_assert_uint_eq(cluster_key_slot("foo{{bar}}zap", 13), cluster_key_slot("{bar", 4));
	ck_assert_uint_eq(cluster_key_slot("foo{bar}{zap}", 13), cluster_key_slot("bar", 3));
	ck_assert_uint_eq(cluster_key_slot("foo{bar", 7), cluster_key_slot("foo{bar", 7));
	ck_assert_uint_ne(cluster_key_slot("foo{bar", 7), cluster_key_slot("bar", 3));
	/* memoryd's shapes: a thread's keys share {tenant:thread} */
	const char *a = "langgraph:checkpoint:{t:th}:ns:1ef0";
	const char *b = "langgraph:blob:{t:th}::messages:00000003";
	ck_assert_uint_eq(cluster_key_slot(a, strlen(a)), cluster_key_slot(b, strlen(b)));
	ck_assert_uint_eq(cluster_key_slot(a, strlen(a)), cluster_key_slot("t:th", 4));
	/* a NUL inside the key counts */
	ck_assert_uint_ne(cluster_key_slot("a\0b", 3), cluster_key_slot("a", 1));
}
END_TEST

/* Three primaries with a replica each; the second's replica has no id. */
static const char three[] = "*3\r\n"
                            "*4\r\n:0\r\n:5460\r\n"
                            "*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nn0\r\n"
                            "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nn3\r\n"
                            "*4\r\n:5461\r\n:10922\r\n"
                            "*4\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nn1\r\n*0\r\n"
                            "*2\r\n$9\r\n127.0.0.1\r\n:7004\r\n"
                            "*4\r\n:10923\r\n:16383\r\n"
                            "*3\r\n$3\r\n::1\r\n:7002\r\n$2\r\nn2\r\n"
                            "*3\r\n$9\r\n127.0.0.1\r\n:7005\r\n$2\r\nn5\r\n";

START_TEST(slots_map)
{
	redisReply *r = resp(three);
	struct cluster_map *m = NULL;
	struct mem_error err = {0};
	ck_assert_int_eq(cluster_map_from_slots(r, "seed", &m, &err), 0);
	ck_assert_uint_eq(m->nnodes, 6);
	ck_assert_uint_eq(m->nprimaries, 3);
	ck_assert_uint_eq(m->nassigned, CLUSTER_SLOTS);
	const struct cluster_node *n = cluster_map_slot_node(m, 0);
	ck_assert_str_eq(n->host, "127.0.0.1");
	ck_assert_int_eq(n->port, 7000);
	ck_assert_str_eq(n->id, "n0");
	ck_assert_int_eq(n->primary, -1);
	ck_assert_int_eq(cluster_map_slot_node(m, 5460)->port, 7000);
	ck_assert_int_eq(cluster_map_slot_node(m, 5461)->port, 7001);
	ck_assert_int_eq(cluster_map_slot_node(m, 10922)->port, 7001);
	ck_assert_str_eq(cluster_map_slot_node(m, 16383)->host, "::1");
	ck_assert_ptr_null(cluster_map_slot_node(m, CLUSTER_SLOTS));
	ck_assert_int_eq(cluster_map_key_node(m, "foo", 3)->port, 7002); /* slot 12182 */
	/* replicas point at their primaries */
	for (size_t i = 0; i < m->nnodes; i++) {
		if (m->nodes[i].port == 7004) {
			ck_assert_str_eq(m->nodes[i].id, "");
			ck_assert_int_eq(m->nodes[m->nodes[i].primary].port, 7001);
		}
		if (m->nodes[i].port == 7005)
			ck_assert_int_eq(m->nodes[m->nodes[i].primary].port, 7002);
	}
	cluster_map_free(m);
	cluster_map_free(NULL);
	freeReplyObject(r);
}
END_TEST

START_TEST(slots_endpoints)
{
	/* NULL and "" endpoints: the host asked; "?": unknown, its slots
	 * unassigned and its replicas left out; a primary listed twice is one
	 * node; a partial map is a map */
	redisReply *r =
	    resp("*4\r\n"
	         "*3\r\n:0\r\n:99\r\n*2\r\n$-1\r\n:7000\r\n"
	         "*3\r\n:100\r\n:199\r\n*2\r\n$0\r\n\r\n:7001\r\n"
	         "*4\r\n:200\r\n:299\r\n*2\r\n$1\r\n?\r\n:7002\r\n*2\r\n$1\r\nr\r\n:1\r\n"
	         "*3\r\n:300\r\n:300\r\n*2\r\n$-1\r\n:7000\r\n");
	struct cluster_map *m = NULL;
	struct mem_error err = {0};
	ck_assert_int_eq(cluster_map_from_slots(r, "10.0.0.9", &m, &err), 0);
	ck_assert_uint_eq(m->nnodes, 2);
	ck_assert_uint_eq(m->nprimaries, 2);
	ck_assert_uint_eq(m->nassigned, 201);
	ck_assert_str_eq(cluster_map_slot_node(m, 50)->host, "10.0.0.9");
	ck_assert_int_eq(cluster_map_slot_node(m, 150)->port, 7001);
	ck_assert_ptr_null(cluster_map_slot_node(m, 250));
	ck_assert_ptr_eq(cluster_map_slot_node(m, 300), cluster_map_slot_node(m, 0));
	ck_assert_ptr_null(cluster_map_slot_node(m, 301));
	cluster_map_free(m);
	/* without a host to fall back on, an empty endpoint is refused */
	ck_assert_int_eq(cluster_map_from_slots(r, NULL, &m, &err), -1);
	ck_assert_ptr_null(m);
	freeReplyObject(r);
}
END_TEST

START_TEST(slots_refused)
{
	static const char *bad[] = {
	    "+OK\r\n",
	    "-ERR This instance has cluster support disabled\r\n",
	    "*1\r\n:0\r\n",
	    "*1\r\n*2\r\n:0\r\n:1\r\n",
	    "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n",
	    "*1\r\n*3\r\n:-1\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n",
	    "*1\r\n*3\r\n:9\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n",
	    "*1\r\n*3\r\n$1\r\n0\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n",
	    "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:0\r\n",
	    "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:65536\r\n",
	    "*1\r\n*3\r\n:0\r\n:5\r\n*1\r\n$1\r\nh\r\n",
	    "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n:1\r\n:1\r\n",
	    "*1\r\n*3\r\n:0\r\n:5\r\n*3\r\n$1\r\nh\r\n:1\r\n:7\r\n",
	    "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n$3\r\na b\r\n:1\r\n",
	    "*1\r\n*4\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n+x\r\n",
	    /* slot 5 given to two primaries */
	    "*2\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n*3\r\n:5\r\n:9\r\n*2\r\n$1\r\nh\r\n:"
	    "2\r\n",
	    /* a primary that is a replica elsewhere */
	    "*2\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n"
	    "*4\r\n:6\r\n:9\r\n*2\r\n$1\r\nh\r\n:2\r\n*2\r\n$1\r\nh\r\n:1\r\n",
	    /* a replica of two primaries */
	    "*2\r\n*4\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n*2\r\n$1\r\nh\r\n:3\r\n"
	    "*4\r\n:6\r\n:9\r\n*2\r\n$1\r\nh\r\n:2\r\n*2\r\n$1\r\nh\r\n:3\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		redisReply *r = resp(bad[i]);
		struct cluster_map *m = (struct cluster_map *)1;
		struct mem_error err = {0};
		ck_assert_msg(cluster_map_from_slots(r, "seed", &m, &err) == -1, "accepted #%zu",
		              i);
		ck_assert_ptr_null(m);
		ck_assert_int_eq(err.code, MEM_EINTERNAL);
		ck_assert_msg(!strncmp(err.message, "CLUSTER SLOTS: ", 15), "#%zu: %s", i,
		              err.message);
		freeReplyObject(r);
	}
	struct cluster_map *m = NULL;
	ck_assert_int_eq(cluster_map_from_slots(NULL, "seed", &m, NULL), -1);
}
END_TEST

static void redirect_is(const char *msg, const char *same, enum cluster_redirect_kind kind,
                        unsigned slot, const char *host, int port)
{
	struct cluster_redirect rd;
	ck_assert_msg(cluster_parse_redirect(msg, strlen(msg), same, &rd) == 0, "refused %s", msg);
	ck_assert_int_eq(rd.kind, kind);
	ck_assert_uint_eq(rd.slot, slot);
	ck_assert_str_eq(rd.host, host);
	ck_assert_int_eq(rd.port, port);
}

START_TEST(redirects)
{
	redirect_is("MOVED 3999 127.0.0.1:6381", "x", CLUSTER_MOVED, 3999, "127.0.0.1", 6381);
	redirect_is("ASK 0 redis-2.example:7000", NULL, CLUSTER_ASK, 0, "redis-2.example", 7000);
	redirect_is("MOVED 16383 ::1:6380", NULL, CLUSTER_MOVED, 16383, "::1", 6380);
	redirect_is("MOVED 12 [fe80::1]:6380", NULL, CLUSTER_MOVED, 12, "fe80::1", 6380);
	redirect_is("MOVED 3999 :6380", "10.1.2.3", CLUSTER_MOVED, 3999, "10.1.2.3", 6380);
	static const char *bad[] = {
	    "MOVED 3999 :6380", /* empty endpoint, no host to fall back on */
	    "MOVED",
	    "MOVED ",
	    "MOVED 3999",
	    "MOVED 3999 127.0.0.1",
	    "MOVED 16384 h:1",
	    "MOVED -1 h:1",
	    "MOVED +1 h:1",
	    "MOVED 1 h:0",
	    "MOVED 1 h:65536",
	    "MOVED 1 h:",
	    "MOVED 1 h:12x",
	    "MOVED 1  h:1",
	    "MOVED 1 h h:1",
	    "MOVED 1 h:1 ",
	    "MOVED 1 []:1",
	    "MOVED 1 [h:1",
	    "moved 1 h:1",
	    "ASK1 h:1",
	    "CLUSTERDOWN The cluster is down",
	    "TRYAGAIN Multiple keys request during rehashing of slot",
	    "CROSSSLOT Keys in request don't hash to the same slot",
	    "ERR wrong number of arguments",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cluster_redirect rd;
		ck_assert_msg(cluster_parse_redirect(bad[i], strlen(bad[i]), NULL, &rd) == -1,
		              "accepted '%s'", bad[i]);
		ck_assert_int_eq(rd.kind, 0);
		ck_assert_int_eq(rd.port, 0);
	}
	/* the length counts, not a NUL */
	struct cluster_redirect rd;
	ck_assert_int_eq(cluster_parse_redirect("MOVED 1 h:12\0"
	                                        "3",
	                                        14, NULL, &rd),
	                 -1);
	ck_assert_int_eq(cluster_parse_redirect("MOVED 1 h:123", 12, NULL, &rd), 0);
	ck_assert_int_eq(rd.port, 12);
}
END_TEST

static Suite *cluster_suite(void)
{
	Suite *s = suite_create("cluster");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, key_slot);
	tcase_add_test(tc, slots_map);
	tcase_add_test(tc, slots_endpoints);
	tcase_add_test(tc, slots_refused);
	tcase_add_test(tc, redirects);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(cluster_suite)
