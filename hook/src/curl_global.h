// libcurl's process-wide state as the hook needs it across load/unload (load.cc, unload.cc).
#ifndef REMOTE_OPTIONS_CURL_GLOBAL_H
#define REMOTE_OPTIONS_CURL_GLOBAL_H

namespace isc {
namespace remote_options {

/// curl_global_init once per load (throws ConfigError when it fails), and libcurl pinned in memory for
/// the life of the process: a name resolution abandoned on a timeout (CURLOPT_QUICK_EXIT) leaves a
/// detached thread in libcurl's code until getaddrinfo returns, and a reconfiguration unloads this
/// library (and with it libcurl, its dependency) meanwhile.
void acquireCurl();

/// curl_global_cleanup when acquireCurl() initialised it (unload, or a load that failed: Kea does not
/// call unload() for a library whose load() failed).
void releaseCurl();

}  // namespace remote_options
}  // namespace isc

#endif
