import { broadcastBinary } from './binary.js';

export const multiply = broadcastBinary('Multiply', 'mul');
