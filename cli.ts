#!/usr/bin/env node
/**
 * The `fedpft` binary: the commands (src/commands) with the actor hosts (actors/) wired in.
 * src/ never imports actors/; this file and index.ts are where the two meet.
 */
import { BrokerWorker } from './actors/broker-worker.js';
import { ACTOR_HOSTS } from './actors/open-host.js';
import { runCli } from './src/commands/program.js';

await runCli(process.argv, { hosts: ACTOR_HOSTS, startWorker: (opts) => BrokerWorker.start(opts) });
