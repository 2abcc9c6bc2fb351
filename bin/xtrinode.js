#!/usr/bin/env node
// Entry point of `npx xtrinode`. Needs Node >= 22.18 (TypeScript type stripping); `npm ci`
// installs Node 24 into node_modules/.bin, which npx puts first on PATH.
import { main } from '../controller/cli.ts';

process.exitCode = await main(process.argv.slice(2));
