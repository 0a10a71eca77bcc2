// Kea hook entry points: load/unload/version/multi_threading_compatible, the pkt4_send callout,
// dhcp4_srv_configured (the single-thread warning) and the remote-options commands.
//
// pkt4_send is the only per-packet callout: Kea prepares a callout handle and its arguments for every
// packet at every hook point that has callouts, so one point instead of two halves what clients that do
// not match pay. For a matching query it decides (cache, then at most one bounded backend call) and
// applies the decision to the OFFER or ACK at once; its work is in pkt4_send.cc.

#include "hook_config.h"
#include "engine.h"
#include "fetcher.h"
#include "log.h"
#include "pkt4_send.h"

#include <cc/command_interpreter.h>
#include <cc/data.h>
#include <hooks/hooks.h>

#include <curl/curl.h>
#include <dlfcn.h>

#include <memory>
#include <sstream>

using isc::data::ConstElementPtr;
using isc::data::Element;
using isc::hooks::CalloutHandle;
using isc::hooks::LibraryHandle;
using namespace isc::remote_options;

namespace {

const char* const FLUSH_COMMAND = "remote-options-cache-flush";
const char* const STATS_COMMAND = "remote-options-stats";

/// The loaded configuration's engine: created by load(), released by unload() (and replaced by a
/// load() without an unload() in between).
std::unique_ptr<Engine> engine;
bool curl_initialised = false;

/// Keeps libcurl mapped for the life of the process: a name resolution abandoned on a timeout
/// (CURLOPT_QUICK_EXIT) leaves a detached thread in libcurl's code until getaddrinfo returns, and a
/// reconfiguration unloads this library (and with it libcurl, its dependency) meanwhile.
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

void logCalloutError(const char* where, const std::string& what) {
    if (engine) {
        engine->reportError(where, what);
    }
}

}  // namespace

extern "C" {

int version() {
    return (KEA_HOOKS_VERSION);
}

int multi_threading_compatible() {
    return (1);
}

int pkt4_send(CalloutHandle& handle) {
    pkt4Send(engine.get(), handle);
    return (0);
}

/// After Kea has applied a configuration (its multi-threading settings included): warn once when
/// it serves packets on a single thread.
int dhcp4_srv_configured(CalloutHandle& handle) {
    try {
        if (engine) {
            // Kea 2.2 applies the new multi-threading settings to MultiThreadingMgr only after this
            // callout: read them from the configuration it passes (the "Dhcp4" map as given; no
            // "multi-threading" is Kea 2.2's default, off).
            ConstElementPtr json;
            handle.getArgument("json_config", json);
            if (json && json->getType() == Element::map && json->get("Dhcp4")) {
                json = json->get("Dhcp4");
            }
            if (json && json->getType() == Element::map) {
                engine->warnIfSingleThreaded(Engine::configuredThreads(json->get("multi-threading")));
            } else {
                engine->warnIfSingleThreaded();
            }
        }
    } catch (const std::exception& ex) {
        logCalloutError("dhcp4_srv_configured", ex.what());
    }
    return (0);
}

int remote_options_cache_flush(CalloutHandle& handle) {
    ConstElementPtr response;
    try {
        ConstElementPtr command;
        handle.getArgument("command", command);
        ConstElementPtr args;
        isc::config::parseCommand(args, command);
        if (!engine) {
            isc_throw(isc::InvalidOperation, "remote-options is not loaded");
        }
        size_t n = engine->flush(args);
        std::string scope = (args && !args->mapValue().empty()) ? args->str() : std::string("all");
        LOG_INFO(remote_options_logger, REMOTE_OPTIONS_CACHE_FLUSHED).arg(n).arg(scope);
        isc::data::ElementPtr out = Element::createMap();
        out->set("flushed", Element::create(static_cast<int64_t>(n)));
        std::ostringstream text;
        text << n << " cache entries flushed";
        response = isc::config::createAnswer(isc::config::CONTROL_RESULT_SUCCESS, text.str(), out);
    } catch (const std::exception& ex) {
        response = isc::config::createAnswer(isc::config::CONTROL_RESULT_ERROR, ex.what());
    }
    handle.setArgument("response", response);
    return (0);
}

int remote_options_stats(CalloutHandle& handle) {
    ConstElementPtr response;
    try {
        if (!engine) {
            isc_throw(isc::InvalidOperation, "remote-options is not loaded");
        }
        engine->publish();
        isc::data::ElementPtr out = engine->counters();
        out->set("cache-entries", Element::create(static_cast<int64_t>(engine->cache().size())));
        out->set("backend-in-flight-limit", Element::create(static_cast<int64_t>(engine->effectiveConcurrency())));
        response = isc::config::createAnswer(isc::config::CONTROL_RESULT_SUCCESS, "remote-options counters", out);
    } catch (const std::exception& ex) {
        response = isc::config::createAnswer(isc::config::CONTROL_RESULT_ERROR, ex.what());
    }
    handle.setArgument("response", response);
    return (0);
}

int load(LibraryHandle& handle) {
    try {
        Config cfg = parseConfig(handle.getParameters());
        pinLibcurl();
        if (!curl_initialised) {
            if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                isc_throw(ConfigError, "curl_global_init failed");
            }
            curl_initialised = true;
        }
        if (!CurlFetcher::asyncDns()) {
            LOG_WARN(remote_options_logger, REMOTE_OPTIONS_NO_ASYNC_DNS).arg(cfg.url);
        }
        CurlOptions opts;
        opts.connect_timeout_ms = cfg.connect_timeout_ms;
        opts.request_timeout_ms = cfg.request_timeout_ms;
        opts.max_body_bytes = cfg.max_body_bytes;
        engine = std::make_unique<Engine>(cfg, std::make_shared<CurlFetcher>(opts));
        handle.registerCommandCallout(FLUSH_COMMAND, remote_options_cache_flush);
        handle.registerCommandCallout(STATS_COMMAND, remote_options_stats);
        LOG_INFO(remote_options_logger, REMOTE_OPTIONS_LOAD_OK)
            .arg(cfg.url)
            .arg(cfg.user_class.empty() ? std::string("(unset)") : cfg.user_class)
            .arg(cfg.machine_guid.empty() ? std::string("(unset)") : cfg.machine_guid)
            .arg(policyName(cfg.failure_policy))
            .arg(cfg.max_concurrent_requests);
    } catch (const std::exception& ex) {
        LOG_ERROR(remote_options_logger, REMOTE_OPTIONS_LOAD_FAILED).arg(ex.what());
        if (curl_initialised && !engine) {
            curl_global_cleanup();   // Kea will not call unload() for a library that failed to load
            curl_initialised = false;
        }
        return (1);
    }
    return (0);
}

int unload() {
    if (engine) {
        LOG_INFO(remote_options_logger, REMOTE_OPTIONS_UNLOADED)
            .arg(engine->counter(BACKEND_CALLS)).arg(engine->counter(CACHE_HITS))
            .arg(engine->counter(FAILURES));
        engine.reset();
    }
    if (curl_initialised) {
        curl_global_cleanup();
        curl_initialised = false;
    }
    return (0);
}

}  // extern "C"
