import { broadcastBinary } from './binary.js';

export const realDiv = broadcastBinary('RealDiv', 'div');
