// The load entry point: parse the parameters (a bad one is a load error with the reason), set up libcurl,
// create the engine, start the parked path where the server can park an OFFER (Kea 2.6+) and register
// the commands.
#include "commands.h"
#include "curl_global.h"
#include "fetcher.h"
#include "hook_config.h"
#include "loaded_engine.h"
#include "loaded_parker.h"
#include "log.h"

#include <hooks/hooks.h>

#include <memory>

using isc::hooks::LibraryHandle;
using namespace isc::remote_options;

extern "C" {

int load(LibraryHandle& handle) {
    std::unique_ptr<Engine>& engine = loadedEngine();
    try {
        stopParkedPath();   // a load without an unload in between: the old parker uses the old engine
        Config cfg = parseConfig(handle.getParameters());
        acquireCurl();
        if (!CurlFetcher::asyncDns()) {
            LOG_WARN(remote_options_logger, REMOTE_OPTIONS_NO_ASYNC_DNS).arg(cfg.url);
        }
        CurlOptions opts;
        opts.connect_timeout_ms = cfg.connect_timeout_ms;
        opts.request_timeout_ms = cfg.request_timeout_ms;
        opts.max_body_bytes = cfg.max_body_bytes;
        opts.auth = cfg.auth;
        opts.max_connections = cfg.max_concurrent_requests;   // one kept-alive connection per call in flight
        engine = std::make_unique<Engine>(cfg, std::make_shared<CurlFetcher>(opts));
        if (startParkedPath(handle, *engine, opts)) {
            LOG_INFO(remote_options_logger, REMOTE_OPTIONS_PARKED_PATH);
        }
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
        if (!engine) {
            releaseCurl();   // Kea will not call unload() for a library that failed to load
        }
        return (1);
    }
    return (0);
}

}  // extern "C"
