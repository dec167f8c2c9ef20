#!/usr/bin/env node
import { installShutdown, main } from '../dist/src/cli/main.js';

installShutdown();
process.exitCode = await main(process.argv.slice(2));
