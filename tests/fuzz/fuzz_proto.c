/*
 * Fuzz target for the control protocol (daemon/proto.c): the bytes a client
 * sends, fed to a framer in chunks split where the data says, each line
 * parsed as a request (and as a reply, which remediactl reads).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "remediad/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Serializes a reply as it would go on the wire, then drops it. */
static void
send_reply(json_t *reply)
{
	char *enc;
	size_t len;

	if (reply == NULL)
		return;
	enc = proto_encode(reply, &len);
	free(enc);
	json_decref(reply);
}

static void
parse_line(const char *line, size_t len)
{
	struct proto_request req;
	struct proto_error err;

	/* Answer it as control.c would: the id goes back as given. */
	if (proto_request_parse(line, len, &req, &err) == 0)
		send_reply(proto_reply_ok(req.id, json_incref(req.args)));
	else
		send_reply(proto_reply_error(req.id, err.code, "%s",
		    err.message));
	proto_request_clear(&req);

	json_decref(proto_reply_parse(line, len, &err));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/*
	 * The first byte (fed as well) picks the line limit: '{' gets the
	 * real one, other bytes small ones, so overlong lines are reached.
	 */
	static const size_t limits[] = {1, 64, 4096, PROTO_MAX_LINE};
	struct proto_framer f;
	size_t off = 0;
	char *line;
	size_t len;
	int r = 0;

	if (size == 0)
		return 0;
	proto_framer_init(&f, limits[data[0] & 3]);
	while (off < size && r != -1) {
		/* The byte at the split point says how long the chunk is. */
		size_t chunk = 1 + data[off] % 64;

		if (chunk > size - off)
			chunk = size - off;
		if (proto_framer_feed(&f, data + off, chunk) == -1)
			break;
		off += chunk;
		while ((r = proto_framer_next(&f, &line, &len)) == 1)
			parse_line(line, len);
	}
	(void)proto_framer_pending(&f);
	proto_framer_free(&f);
	return 0;
}
