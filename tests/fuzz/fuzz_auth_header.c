/*
 * fuzz_auth_header.c - the Authorization header parser and the scope list
 * parser with arbitrary bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = xstrndup((const char *)data, size);
    size_t len = 0;
    const char *secret = auth_bearer_secret(s, &len);
    if (secret) {
        if (len == 0 || len > 200 || secret < s || secret + len > s + strlen(s))
            abort();
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)secret[i] <= ' ')
                abort();
    }
    unsigned bits = 0;
    if (auth_parse_scopes(s, &bits) && (bits & ~SCOPE_ALL))
        abort();
    json_decref(auth_scopes_json(bits));
    free(s);
    return 0;
}
