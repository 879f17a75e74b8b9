#pragma once
// One run of the sensor client once its settings are resolved: the source, the spool, the reader
// thread, the destination (d4-server or stdout) and the signal thread that turns SIGINT/SIGTERM
// into a clean stop within the grace time. main.cpp only parses the command line and calls run().
#include "client/config.hpp"

namespace d4::client {

// Runs until the source ends or a signal stops it; returns the process exit status.
int run(const Settings& settings);

}  // namespace d4::client
