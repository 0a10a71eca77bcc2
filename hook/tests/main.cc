// googletest entry point: Kea's logging must be initialised before any logger is used.
#include <log/logger_support.h>
#include <log/logger_unittest_support.h>

#include <gtest/gtest.h>

#include <cstdlib>

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    setenv("KEA_LOCKFILE_DIR", "none", 0);   // no /var/run/kea needed
    // Everything down to debug is formatted (catches placeholder mistakes) and printed in order.
    isc::log::initLogger("remote-options-tests", isc::log::DEBUG, isc::log::MAX_DEBUG_LEVEL, NULL, false);
    return (RUN_ALL_TESTS());
}
