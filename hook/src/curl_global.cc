#include "curl_global.h"
#include "hook_config.h"

#include <curl/curl.h>
#include <dlfcn.h>

namespace isc {
namespace remote_options {

namespace {

bool curl_initialised = false;

void pinLibcurl() {
    static bool pinned = false;
    if (pinned) {
        return;
    }
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&curl_easy_init), &info) && info.dli_fname) {
        // Already loaded: RTLD_NOLOAD only takes a reference, marked never to be unloaded.
        pinned = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != 0;
    }
}

}  // namespace

void acquireCurl() {
    pinLibcurl();
    if (!curl_initialised) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            isc_throw(ConfigError, "curl_global_init failed");
        }
        curl_initialised = true;
    }
}

void releaseCurl() {
    if (curl_initialised) {
        curl_global_cleanup();
        curl_initialised = false;
    }
}

}  // namespace remote_options
}  // namespace isc
